"""What platform operators found rendering deploy/k8s as they would (issue #19, ADR 0051).

Each test is one finding, and failed on the manifests as they were before it was fixed: checkov
over the production render, images by digest, replicas spread over nodes and zones, egress only
to the namespaces PostgreSQL and Kafka run in, the workers' metrics declared, scraped and let
through, the read horizon alert, KEDA on consumer lag, and a staging that brings its own Kafka
and PostgreSQL. The renders go through the same validator as test_k8s_manifests.py.
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bilet.services import SERVICE_NAMES
from tests.deploy.test_k8s_manifests import (
    BUILD_SECONDS,
    K8S,
    REPO,
    WORKER_SERVICES,
    K8sTools,
    k8s_tools,  # noqa: F401 - the session fixture, shared
)

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 300)

CHECKOV = REPO / "scripts" / "checkov" / "run.sh"
CHECKOV_CONFIG = K8S / "checkov.yaml"
# The projection workers KEDA scales, and the consumer group each reads through (the code's).
SCALED_WORKERS = {
    "consent": ("bilet_consent.worker", "GROUP"),
    "diagnostics": ("bilet_diagnostics.worker", "GROUP"),
    "events": ("bilet_events.worker", "GROUP"),
    "identity": ("bilet_identity.worker", "GROUP"),
}


def _documents(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def _of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def _component(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


@pytest.fixture(scope="module")
def production_render(k8s_tools: K8sTools) -> str:  # noqa: F811 - the imported fixture
    return k8s_tools.render(K8S / "overlays" / "production")


@pytest.fixture(scope="module")
def production(production_render: str) -> list[dict[str, Any]]:
    return _documents(production_render)


@pytest.fixture(scope="module")
def staging(k8s_tools: K8sTools) -> list[dict[str, Any]]:  # noqa: F811
    manifests = k8s_tools.render(K8S / "overlays" / "staging")
    k8s_tools.assert_valid(manifests)
    return _documents(manifests)


# ---------------------------------------------------------------- checkov


@pytest.mark.timeout(900)
def test_checkov_passes_over_the_production_render(production_render: str, tmp_path: Path) -> None:
    rendered = tmp_path / "production.yaml"
    rendered.write_text(production_render, encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own script
        [str(CHECKOV), str(rendered)],
        capture_output=True,
        text=True,
        check=False,
        timeout=840,
    )
    assert done.returncode == 0, f"checkov failed:\n{done.stdout}\n{done.stderr}"
    passed = re.search(r"Passed checks: (\d+), Failed checks: (\d+)", done.stdout)
    assert passed is not None, done.stdout
    assert int(passed.group(1)) > 0
    assert int(passed.group(2)) == 0


def test_every_check_checkov_skips_says_why(production: list[dict[str, Any]]) -> None:
    lines = CHECKOV_CONFIG.read_text(encoding="utf-8").splitlines()
    skipped = [
        (i, m.group(1)) for i, line in enumerate(lines) if (m := re.match(r"  - (CKV\w+)$", line))
    ]
    assert skipped, "the config skips nothing: drop this test's premise, not its check"
    for index, check in skipped:
        above = lines[index - 1].strip()
        assert above.startswith("#"), f"{check} is skipped without a reason above it"
        assert len(above.split()) >= 5, f"{check}: {above!r} is no reason"
    # Skipped for some objects only: by annotation, the reason after the `=`.
    for doc in production:
        for key, value in doc["metadata"].get("annotations", {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert re.fullmatch(r"CKV_K8S_\d+", check), (doc["metadata"]["name"], value)
                assert len(reason.split()) >= 5, f"{doc['metadata']['name']}: {value} says no why"


# ---------------------------------------------------------------- images and placement


def test_production_runs_every_image_by_digest(production: list[dict[str, Any]]) -> None:
    for name, deployment in _of_kind(production, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert re.fullmatch(r"bilet/[a-z]+@sha256:[0-9a-f]{64}", container["image"]), name


def test_production_spreads_replicas_over_nodes_and_zones(production: list[dict[str, Any]]) -> None:
    for name, deployment in _of_kind(production, "Deployment").items():
        constraints = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        if _component(deployment) == "relay":
            assert constraints == [], f"{name}: a relay is single, there is nothing to spread"
            continue
        by_key = {c["topologyKey"]: c for c in constraints}
        assert set(by_key) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, name
        assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
        for constraint in constraints:
            assert constraint["maxSkew"] == 1
            # Counted per Deployment: the labels that tell one apart from the others.
            assert set(constraint["matchLabelKeys"]) == {
                "app.kubernetes.io/name",
                "app.kubernetes.io/component",
            }


# ---------------------------------------------------------------- the network


DEPENDENCY_PORTS = {5432, 9092, 9093}


@pytest.mark.parametrize("overlay", ["production", "staging"])
def test_processes_reach_postgres_and_kafka_only_where_those_run(
    k8s_tools: K8sTools,  # noqa: F811
    overlay: str,
) -> None:
    policies = _of_kind(_documents(k8s_tools.render(K8S / "overlays" / overlay)), "NetworkPolicy")
    opened = 0
    for name, policy in policies.items():
        for rule in policy["spec"].get("egress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            if not ports & DEPENDENCY_PORTS:
                continue
            opened += 1
            peers = rule.get("to", [])
            assert peers, f"{name} opens {sorted(ports & DEPENDENCY_PORTS)} to anywhere"
            for peer in peers:
                assert "ipBlock" not in peer, f"{name}: an address range is not the cluster's"
                assert peer.get("namespaceSelector") or peer.get("podSelector"), name
    assert opened >= 2


def test_every_worker_exports_metrics_prometheus_scrapes_and_may_reach(
    production: list[dict[str, Any]],
) -> None:
    deployments = _of_kind(production, "Deployment")
    for service in WORKER_SERVICES:
        worker = deployments[f"{service}-worker"]
        (port,) = worker["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert port["name"] == "metrics"
        assert port["containerPort"] == _worker_metrics_port(service)
    (monitor,) = [m for n, m in _of_kind(production, "PodMonitor").items() if n == "bilet-workers"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/component": "worker"}
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]
    policy = _of_kind(production, "NetworkPolicy")["allow-prometheus-scrape-workers"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "worker"}
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "metrics"}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def _worker_metrics_port(service: str) -> int:
    """The default of BVB_<SERVICE>_WORKER_METRICS_PORT, from whichever settings class has it."""
    field = f"{service}_worker_metrics_port"
    for module_name in (f"bilet_{service}.settings", f"bilet_{service}.worker"):
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            fields = getattr(value, "model_fields", None)
            if isinstance(fields, dict) and field in fields:
                return int(fields[field].default)
    raise AssertionError(f"no settings class of {service} has {field}")


# ---------------------------------------------------------------- alerts


def test_production_alerts_when_the_read_horizon_is_held_back(
    production: list[dict[str, Any]],
) -> None:
    alerts = {
        rule["alert"]: rule
        for doc in production
        if doc["kind"] == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    }
    expected = {
        "BiletRelayStalled",
        "BiletProjectionLagHigh",
        "BiletDeadLetters",
        "BiletErasuresOverdue",
        "BiletPostgresReadHorizonHeldBack",
    }
    assert expected <= set(alerts)
    horizon = alerts["BiletPostgresReadHorizonHeldBack"]
    assert "bilet_relay_lag_events" in horizon["expr"]
    assert "cnpg_backends_max_tx_duration_seconds" in horizon["expr"]
    assert horizon["labels"]["severity"] == "critical"


# ---------------------------------------------------------------- KEDA


def test_keda_scales_each_projection_worker_on_its_own_consumer_group(
    k8s_tools: K8sTools,  # noqa: F811
    tmp_path: Path,
) -> None:
    relative = os.path.relpath(K8S / "overlays" / "production", tmp_path)
    keda = os.path.relpath(K8S / "components" / "keda-autoscaling", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: bilet-production\n"
        f"resources:\n  - {relative}\ncomponents:\n  - {keda}\n"
        # KEDA owns the replica count: production's two portfolio workers become its floor.
        "patches:\n  - target: {kind: Deployment, name: portfolio-worker}\n"
        "    patch: |-\n      - op: remove\n        path: /spec/replicas\n",
        encoding="utf-8",
    )
    manifests = k8s_tools.render(tmp_path)
    kinds = k8s_tools.assert_valid(manifests)
    scaled = _of_kind(_documents(manifests), "ScaledObject")
    groups = {**{s: getattr(importlib.import_module(m), g) for s, (m, g) in SCALED_WORKERS.items()}}
    portfolio_settings = importlib.import_module("bilet_portfolio.settings").PortfolioSettings
    groups["portfolio"] = portfolio_settings.model_fields["portfolio_group_id"].default
    assert set(scaled) == {f"{service}-worker" for service in groups}
    assert kinds["TriggerAuthentication"] == 1
    for service, group in groups.items():
        spec = scaled[f"{service}-worker"]["spec"]
        assert spec["scaleTargetRef"] == {"name": f"{service}-worker"}
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == group
        assert trigger["metadata"]["bootstrapServersFromEnv"] == "BVB_KAFKA_BOOTSTRAP"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= 24


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("nothing", "names Deployment nothing, which the manifests do not define"),
        ("portfolio", "Deployment portfolio is scaled by a HorizontalPodAutoscaler too"),
        ("portfolio-worker", "Deployment portfolio-worker sets spec.replicas, but KEDA scales it"),
    ],
)
def test_the_validator_refuses_a_scaled_object_it_cannot_honour(
    k8s_tools: K8sTools,  # noqa: F811
    production_render: str,
    target: str,
    complaint: str,
) -> None:
    scaled_object = (
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: extra\n"
        "  namespace: bilet-production\n  labels: {app.kubernetes.io/part-of: bilet}\n"
        f"spec:\n  scaleTargetRef: {{name: {target}}}\n  triggers: []\n"
    )
    done = k8s_tools.validate(production_render + "---\n" + scaled_object)
    assert done.returncode == 1
    assert complaint in done.stderr


# ---------------------------------------------------------------- a self-contained staging


def test_staging_brings_its_own_kafka_topics_and_postgresql(staging: list[dict[str, Any]]) -> None:
    (kafka,) = _of_kind(staging, "Kafka").values()
    (pool,) = _of_kind(staging, "KafkaNodePool").values()
    (postgres,) = _of_kind(staging, "Cluster").values()
    topics = _of_kind(staging, "KafkaTopic")
    assert kafka["metadata"]["name"] == "bilet"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "bilet"
    assert pool["spec"]["replicas"] >= 3  # the topics' three replicas
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    listeners = {listener["port"]: listener for listener in kafka["spec"]["kafka"]["listeners"]}
    assert listeners[9093]["authentication"]["type"] == "scram-sha-512"
    assert len(topics) == 2 * len(SERVICE_NAMES)
    assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics.values()} == {"bilet"}
    assert postgres["spec"]["instances"] == 3
    assert postgres["spec"]["postgresql"]["parameters"]["log_parameter_max_length"] == "0"
    (config,) = [d["data"] for d in staging if d["kind"] == "ConfigMap"]
    # The processes talk to these, in their own namespace; the relays create no topic.
    assert config["BVB_KAFKA_BOOTSTRAP"] == f"{kafka['metadata']['name']}-kafka-bootstrap:9092"
    assert config["BVB_RELAY_CREATE_TOPICS"] == "false"
    policies = _of_kind(staging, "NetworkPolicy")
    assert {"allow-kafka-in-namespace", "allow-postgres-in-namespace"} <= set(policies)


# ---------------------------------------------------------------- operations as Jobs


@pytest.mark.parametrize("overlay", ["production", "staging"])
def test_a_portfolio_rebuild_can_be_started_as_a_job_in_every_environment(
    k8s_tools: K8sTools,  # noqa: F811
    overlay: str,
) -> None:
    documents = _documents(k8s_tools.render(K8S / "overlays" / overlay))
    cron = _of_kind(documents, "CronJob")["portfolio-rebuild"]["spec"]
    assert cron["suspend"] is True  # runs when an operator creates a Job from it, only
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "python",
        "-m",
        "bilet_portfolio.cli",
        "rebuild",
        "--from",
        "kafka",
    ]
    # The portfolio image, as the release names it for the API.
    api = _of_kind(documents, "Deployment")["portfolio"]["spec"]["template"]["spec"]
    assert container["image"] == api["containers"][0]["image"]
    env = {entry["name"]: entry for entry in container["env"]}
    # Its shadow tables are DDL: the database's DDL role, as the migrations (ADR 0057).
    assert env["BVB_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
        "bilet-portfolio-migrations"
    )
    assert env["BVB_SCHEMA"]["value"] == "migrate"
    assert "BVB_MASTER_KEY" not in env
    assert "BVB_KEY_STORE_URL" not in env


def test_the_rebuild_command_is_one_the_portfolio_package_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bilet_portfolio.cli", "rebuild", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--from {stores,kafka}" in done.stdout


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("suspend: true", "suspend: false", "spec.suspend must be true"),
        ("concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", "must be Forbid"),
        ("restartPolicy: Never", "restartPolicy: Always", "restartPolicy must be Never"),
        (
            "            name: rebuild\n",
            "            name: rebuild\n            securityContext: {}\n",
            "already set",
        ),
    ],
    ids=["scheduled", "concurrent", "restarting", "duplicate-key"],
)
def test_the_validator_refuses_an_operation_that_could_run_unasked(
    k8s_tools: K8sTools,  # noqa: F811
    production_render: str,
    old: str,
    new: str,
    complaint: str,
) -> None:
    # The first operation that has it (several CronJobs: the rebuild, the migrations).
    assert old in production_render, old
    done = k8s_tools.validate(production_render.replace(old, new, 1))
    assert done.returncode == 1
    assert complaint in done.stderr
