"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Every overlay, and the base with every combination of the opt-in components, is rendered with
kustomize and handed to the validator (deploy/k8s/validate): each object is decoded strictly into
the real Kubernetes API type of its apiVersion/kind, then held to the house rules. Both tools are
built with Go, once, under var/tools/ (rebuilt only when a pin or the validator's source changes).
"""

import fcntl
import hashlib
import itertools
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from bilet.contracts.cloudevents import topic_of
from bilet.projections import ProjectionMetrics
from bilet.projections.kafka import dlq_topic
from bilet.relay import RelayMetrics
from bilet.services import SERVICE_NAMES
from bilet.settings import PlatformSettings
from bilet_consent.app import ErasureMetrics
from bilet_consent.settings import ConsentSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
VALIDATOR_SOURCE = K8S / "validate"
TOOLS = REPO / "var" / "tools"
# v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with Go 1.26.
KUSTOMIZE_VERSION = "v5.8.2"
GO_NEEDED = "Go 1.26 or newer"
COMPONENTS = (
    "network-policies",
    "pod-disruption-budgets",
    "relay-workers",
    "kafka-sasl-scram",
    "kafka-topics",
    "monitoring",
)
# The services whose read model a projection worker (`python -m bilet_<service>.worker`) feeds
# from Kafka: in base, in every environment.
WORKER_SERVICES = ("consent", "diagnostics", "events", "identity", "portfolio", "recommender")
# The APIs that seal and open personal fields: the only processes with the master key and the
# suite's one key store (bilet.stores.open_key_store). test_key_holders.py proves the list true:
# exactly these APIs refuse to start without the master key.
KEY_HOLDERS = ("identity", "consent", "diagnostics", "events", "portfolio")
# The one worker that holds them too: the recommender's opens accessibility needs with a pupil's
# health key while a consent covers health data (ADR 0038).
KEY_HOLDING_WORKERS = ("recommender",)
OVERLAYS = ("staging", "production")
BUILD_SECONDS = 900

# A cold build (empty Go module and build caches) takes about two minutes on two cores: more
# than the suite's default per-test timeout, which counts the fixture's setup.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 120)


def image_uid() -> str:
    """The numeric user of the service images (`USER uid:gid` in the one Dockerfile)."""
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    uids: set[str] = set(re.findall(r"^USER (\d+):\d+$", dockerfile, re.M))
    assert len(uids) == 1, f"the image names no single user: {sorted(uids)}"
    return uids.pop()


@dataclass(frozen=True)
class K8sTools:
    kustomize: Path
    validator: Path

    def render(self, kustomization: Path) -> str:
        done = subprocess.run(  # noqa: S603 - our own binary, our own paths
            [str(self.kustomize), "build", str(kustomization)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            pytest.fail(f"kustomize build {kustomization} failed:\n{done.stderr}", pytrace=False)
        return done.stdout

    def validate(self, manifests: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own binary
            [
                str(self.validator),
                "-services",
                ",".join(SERVICE_NAMES),
                "-uid",
                image_uid(),
            ],
            input=manifests,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def assert_valid(self, manifests: str) -> Counter[str]:
        """Validate; return how many objects of each kind the render holds."""
        done = self.validate(manifests)
        assert done.returncode == 0, f"the validator refused the render:\n{done.stderr}"
        return Counter(line.split()[0] for line in done.stdout.splitlines())


def _go(arguments: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - the go tool found on PATH
            arguments,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_SECONDS,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(arguments)}` took more than {BUILD_SECONDS} s", pytrace=False)
    if done.returncode != 0:
        version = subprocess.run(  # noqa: S603
            [arguments[0], "version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        pytest.fail(
            f"`{' '.join(arguments)}` failed ({GO_NEEDED} is needed; this is {version}):\n"
            f"{done.stderr}",
            pytrace=False,
        )


def _validator_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([*VALIDATOR_SOURCE.glob("*.go"), *VALIDATOR_SOURCE.glob("go.*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def k8s_tools() -> K8sTools:
    """kustomize and the validator, built with Go into var/tools/ unless already built."""
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            f"`go` is not on PATH: the deploy tests build kustomize and the manifest validator "
            f"with it. Install {GO_NEEDED} from https://go.dev/dl/ (Debian bookworm's golang-go "
            "is 1.19, too old) and put its bin/ on PATH.",
            pytrace=False,
        )
    env = {**os.environ, "GOFLAGS": "-mod=readonly"}
    # Each xdist worker has its own session: the first builds, the others wait on the lock and
    # then find the binaries (a half-written one would otherwise look built).
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _built_tools(go, env)


def _built_tools(go: str, env: dict[str, str]) -> K8sTools:
    kustomize_dir = TOOLS / f"kustomize-{KUSTOMIZE_VERSION}"
    kustomize = kustomize_dir / "kustomize"
    if not kustomize.exists():
        _go(
            [go, "install", f"sigs.k8s.io/kustomize/kustomize/v5@{KUSTOMIZE_VERSION}"],
            cwd=REPO,
            env={**env, "GOBIN": str(kustomize_dir)},
        )

    # Keyed by a digest of the validator's source, so an edit rebuilds it and nothing else does.
    validator = TOOLS / "k8s-validate" / _validator_digest() / "validate"
    if not validator.exists():
        _go(
            [go, "build", "-trimpath", "-buildvcs=false", "-o", str(validator), "."],
            cwd=VALIDATOR_SOURCE,
            env=env,
        )
        for stale in validator.parent.parent.iterdir():
            if stale != validator.parent:
                shutil.rmtree(stale)
    return K8sTools(kustomize=kustomize, validator=validator)


# ---------------------------------------------------------------- what is deployed


EXPECTED_KINDS = {
    "staging": {
        # the APIs, their relays and the projection workers
        "Deployment": 2 * len(SERVICE_NAMES) + len(WORKER_SERVICES),
        # and those of its own Kafka and PostgreSQL (components strimzi-kafka, cloudnative-pg)
        "NetworkPolicy": 8 + 2 + 2,
        "PodDisruptionBudget": 0,
        "HorizontalPodAutoscaler": 0,
    },
    "production": {
        "Deployment": 2 * len(SERVICE_NAMES) + len(WORKER_SERVICES),
        "NetworkPolicy": 8,
        "PodDisruptionBudget": len(SERVICE_NAMES) + len(WORKER_SERVICES),
        "HorizontalPodAutoscaler": 1,
    },
}


def _documents(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def _deployments(manifests: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc for doc in _documents(manifests) if doc["kind"] == "Deployment"
    }


def _env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The first container's env entries, by name."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {entry["name"]: entry for entry in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_passes_the_house_rules(k8s_tools: K8sTools, overlay: str) -> None:
    kinds = k8s_tools.assert_valid(k8s_tools.render(K8S / "overlays" / overlay))
    assert kinds["Namespace"] == 1
    for kind, count in EXPECTED_KINDS[overlay].items():
        assert kinds[kind] == count, kind


def test_production_autoscales_portfolio(k8s_tools: K8sTools) -> None:
    done = k8s_tools.validate(k8s_tools.render(K8S / "overlays" / "production"))
    assert "HorizontalPodAutoscaler bilet-production/portfolio" in done.stdout.splitlines()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_environment_runs_the_projection_workers(k8s_tools: K8sTools, overlay: str) -> None:
    deployments = _deployments(k8s_tools.render(K8S / "overlays" / overlay))
    replicas = {
        service: deployments[f"{service}-worker"]["spec"].get("replicas", 1)
        for service in WORKER_SERVICES
    }
    # Production runs two members of the portfolio worker's consumer group.
    assert replicas == {
        "consent": 1,
        "diagnostics": 1,
        "events": 1,
        "identity": 1,
        "portfolio": 2 if overlay == "production" else 1,
        "recommender": 1,
    }
    for service in WORKER_SERVICES:
        worker = deployments[f"{service}-worker"]
        assert worker["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == (
            "worker"
        )
        assert worker["spec"]["strategy"]["type"] == "RollingUpdate"
        assert ("BVB_MASTER_KEY" in _env(worker)) == (service in KEY_HOLDING_WORKERS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_key_holding_apis_and_the_recommender_worker_hold_the_keys(
    k8s_tools: K8sTools, overlay: str
) -> None:
    deployments = _deployments(k8s_tools.render(K8S / "overlays" / overlay))
    holders = {
        name: {variable: _env(d)[variable]["valueFrom"]["secretKeyRef"] for variable in keys}
        for name, d in deployments.items()
        if (keys := {"BVB_MASTER_KEY", "BVB_KEY_STORE_URL"} & _env(d).keys())
    }
    assert set(holders) == {*KEY_HOLDERS, *(f"{s}-worker" for s in KEY_HOLDING_WORKERS)}
    for refs in holders.values():
        assert refs == {
            "BVB_MASTER_KEY": {"name": "bilet-master-key", "key": "master-key"},
            "BVB_KEY_STORE_URL": {"name": "bilet-keys-database", "key": "url"},
        }


def test_no_database_url_on_a_command_line(k8s_tools: K8sTools) -> None:
    deployments = _deployments(k8s_tools.render(K8S / "overlays" / "production"))
    for deployment in deployments.values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            words = " ".join([*container.get("command", []), *container.get("args", [])])
            assert "$(" not in words
            assert "postgres" not in words


COMBINATIONS = [
    combination
    for size in range(len(COMPONENTS) + 1)
    for combination in itertools.combinations(COMPONENTS, size)
]


@pytest.mark.parametrize("components", COMBINATIONS, ids=lambda c: "+".join(c) or "base-only")
def test_every_component_combination_renders_and_passes_the_house_rules(
    k8s_tools: K8sTools, tmp_path: Path, components: tuple[str, ...]
) -> None:
    # The smallest overlay that can be deployed: the base, the components, the settings every
    # environment must give (kustomize accepts only relative paths to other kustomizations).
    def relative(path: Path) -> str:
        return os.path.relpath(path, tmp_path)

    lines = [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "namespace: bilet-test",
        "resources:",
        f"  - {relative(K8S / 'base')}",
        "components:" if components else "components: []",
        *(f"  - {relative(K8S / 'components' / name)}" for name in components),
        "configMapGenerator:",
        "  - name: bilet-config",
        "    behavior: merge",
        "    literals:",
        "      - BVB_JWT_ISSUER=https://id.test.invalid/realms/bilet",
        "      - BVB_JWKS_URL=https://id.test.invalid/realms/bilet/certs",
        "      - BVB_KAFKA_BOOTSTRAP=kafka.test.invalid:9092",
    ]
    (tmp_path / "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    kinds = k8s_tools.assert_valid(k8s_tools.render(tmp_path))
    relays = "relay-workers" in components
    assert kinds["Deployment"] == len(SERVICE_NAMES) * (2 if relays else 1) + len(WORKER_SERVICES)
    assert kinds["NetworkPolicy"] == (8 if "network-policies" in components else 0)
    assert kinds["PodDisruptionBudget"] == (
        len(SERVICE_NAMES) + len(WORKER_SERVICES) if "pod-disruption-budgets" in components else 0
    )


# ---------------------------------------------------------------- the validator really refuses

# (what to change in the rendered production manifests, into what, and what the validator says)
BREAKAGES = [
    pytest.param(
        "readOnlyRootFilesystem: true",
        "readOnlyRootFileSystem: true",
        'unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"',
        id="misspelt-field",
    ),
    pytest.param(
        "memory: 768Mi", "memory: 768Mb", "quantities must match", id="malformed-quantity"
    ),
    pytest.param(
        "kind: Namespace\n", "kind: Namespace\nkind: Namespace\n", "already set", id="duplicate-key"
    ),
    pytest.param(
        "apiVersion: v1\nkind: Namespace",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: x\n---\n"
        "apiVersion: v1\nkind: Namespace",
        "unknown or unexpected kind apps/v1 StatefulSet",
        id="unknown-kind",
    ),
    pytest.param(
        "apiVersion: v1\nkind: Namespace",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: Namespace",
        "is a Secret",
        id="committed-secret",
    ),
    pytest.param("runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot", id="root"),
    pytest.param("runAsUser: 10001", "runAsUser: 1000", "is not the images' user", id="uid"),
    pytest.param(
        "allowPrivilegeEscalation: false",
        "allowPrivilegeEscalation: true",
        "allowPrivilegeEscalation must be false",
        id="privilege-escalation",
    ),
    pytest.param("- ALL", "- NET_RAW", "capabilities.drop must include ALL", id="capabilities"),
    pytest.param(
        "type: RuntimeDefault", "type: Unconfined", "seccompProfile", id="seccomp-unconfined"
    ),
    pytest.param(
        "        livenessProbe:\n",
        "        x-livenessProbe:\n",
        "livenessProbe is required",
        id="no-liveness-probe",
    ),
    pytest.param(
        "path: /identity/healthz",
        "path: /identity/health",
        "must be an HTTP GET of /identity/healthz",
        id="wrong-probe-path",
    ),
    pytest.param("cpu: 250m", 'cpu: "3"', "exceeds its limit", id="request-over-limit"),
    pytest.param(
        "            memory: 768Mi\n", "", "resources.limits.memory is required", id="no-limit"
    ),
    pytest.param(
        # production names images by digest (test_operations.py)
        "image: bilet/identity@sha256:" + "0" * 64,
        "image: bilet/identity:latest",
        "must be pinned",
        id="latest-image",
    ),
    pytest.param(
        "automountServiceAccountToken: false",
        "automountServiceAccountToken: true",
        "automountServiceAccountToken must be false",
        id="service-account-token",
    ),
    pytest.param(
        "        - bilet.relay\n",
        "        - bilet.relay\n        - $(BVB_RELAY_SERVIC)\n",
        "would pass the text unexpanded",
        id="unresolved-variable",
    ),
    pytest.param(
        "        - bilet.relay\n",
        "        - bilet.relay\n        - --store\n        - $(BVB_RELAY_STORE)\n",
        "pass $(BVB_RELAY_STORE) on the command line",
        id="store-url-in-args",
    ),
    pytest.param(
        "BVB_ENVIRONMENT: production",
        "BVB_ENVIRONMENT: production\n  BVB_KEY_STORE_URL: postgresql://keys.invalid/bilet",
        "key BVB_KEY_STORE_URL carries a secret",
        id="key-store-url-in-configmap",
    ),
    pytest.param(
        "BVB_EVENT_STORE: postgres",
        "BVB_EVENT_STORE: sqlite",
        "keep their stores in PostgreSQL",
        id="sqlite-store",
    ),
    pytest.param(
        "BVB_EVENT_STORE: postgres",
        "BVB_EVENT_STORE: kurrentdb",
        "BVB_EVENT_STORE is kurrentdb: BVB_READ_MODEL must be set",
        id="kurrentdb-without-its-settings",
    ),
    pytest.param(
        "BVB_ENVIRONMENT: production",
        "BVB_ENVIRONMENT: production\n  BVB_MASTER_KEY: c2VjcmV0",
        "belongs in a Secret",
        id="secret-in-configmap",
    ),
    pytest.param(
        "BVB_ENVIRONMENT: production",
        "BVB_ENVIRONMENT: development",
        "deployed processes run as production",
        id="development-mode",
    ),
    pytest.param(
        "  BVB_JWKS_URL: ", "  X_JWKS_URL: ", "BVB_JWKS_URL is not set", id="missing-setting"
    ),
    pytest.param(
        "targetPort: http", "targetPort: web", "is not a port of Deployment", id="service-port"
    ),
    pytest.param(
        "name: identity\n            port:\n              name: http",
        "name: identity\n            port:\n              name: htp",
        'Service "identity" has no port',
        id="ingress-port",
    ),
    pytest.param(
        "  name: portfolio\n  namespace: bilet-production\nspec:\n  revisionHistoryLimit",
        "  name: portfolio\n  namespace: bilet-production\nspec:\n  replicas: 3\n"
        "  revisionHistoryLimit",
        "a HorizontalPodAutoscaler scales this Deployment",
        id="replicas-under-hpa",
    ),
    pytest.param(
        "  replicas: 1\n", "  replicas: 2\n", "a relay runs as one replica", id="two-relays"
    ),
    pytest.param(
        "  maxUnavailable: 1", "  minAvailable: 2", "allows no disruption", id="undrainable-pdb"
    ),
    pytest.param("port: 53", "port: 54", "DNS (UDP 53)", id="dns-blocked"),
    # KafkaTopics and monitoring (ADR 0022)
    pytest.param(
        "  replicas: 3\n", "  replicas: 1\n", "spec.replicas must be at least 3", id="one-copy"
    ),
    pytest.param(
        "min.insync.replicas: 2",
        "min.insync.replicas: 1",
        "min.insync.replicas must be at",
        id="one-in-sync",
    ),
    pytest.param(
        "retention.ms: -1",
        "retention.ms: 604800000",
        "retention.ms must be -1",
        id="retention-by-age",
    ),
    pytest.param(
        "      for: 10m\n",
        "",
        "set `for`, or one bad scrape pages someone",
        id="alert-without-for",
    ),
    pytest.param(
        "severity: critical",
        "severity: page",
        "labels.severity must be warning or critical",
        id="odd-severity",
    ),
    pytest.param(
        "path: /metrics\n    port: metrics",
        "path: /metrics\n    port: http",
        'has no container port named "http"',
        id="scrape-a-missing-port",
    ),
    # Production reaches Kafka on 9093 (TLS, component kafka-sasl-scram).
    pytest.param("port: 9093", "port: 9094", "egress to Kafka (TCP 9093)", id="kafka-blocked"),
    pytest.param(
        "prometheus.io/path: /identity/metrics",
        "prometheus.io/path: /metrics",
        "prometheus.io/path must be /identity/metrics",
        id="scrape-path",
    ),
    pytest.param(
        "enforce: restricted", "enforce: baseline", "enforce=restricted", id="pod-security"
    ),
]


@pytest.fixture(scope="module")
def production(k8s_tools: K8sTools) -> str:
    return k8s_tools.render(K8S / "overlays" / "production")


@pytest.mark.parametrize(("old", "new", "complaint"), BREAKAGES)
def test_the_validator_refuses_a_broken_render(
    k8s_tools: K8sTools, production: str, old: str, new: str, complaint: str
) -> None:
    assert old in production, f"the render no longer contains {old!r}: update this breakage"
    done = k8s_tools.validate(production.replace(old, new, 1))
    assert done.returncode == 1, done.stderr
    assert complaint in done.stderr


Mutation = Callable[[dict[str, dict[str, Any]]], None]


def _mutate(manifests: str, change: Mutation) -> str:
    """The render with `change` applied to its documents, given by "Kind/name"."""
    documents = _documents(manifests)
    change({f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in documents})
    return yaml.safe_dump_all(documents, sort_keys=False)


def _container(documents: dict[str, dict[str, Any]], deployment: str) -> dict[str, Any]:
    container: dict[str, Any] = documents[f"Deployment/{deployment}"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


def _add_env(deployment: str, name: str, **source: Any) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        _container(documents, deployment)["env"].append({"name": name, **source})

    return change


def _from_secret(name: str, key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


MASTER_KEY = _from_secret("bilet-master-key", "master-key")
KEY_STORE = _from_secret("bilet-keys-database", "url")


def _drop_env(deployment: str, name: str) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        container = _container(documents, deployment)
        container["env"] = [entry for entry in container["env"] if entry["name"] != name]

    return change


def _replace_env(deployment: str, name: str, **source: Any) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        _drop_env(deployment, name)(documents)
        _add_env(deployment, name, **source)(documents)

    return change


def _mount_master_key(deployment: str) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        pod = documents[f"Deployment/{deployment}"]["spec"]["template"]["spec"]
        pod["volumes"].append({"name": "keys", "secret": {"secretName": "bilet-master-key"}})
        pod["containers"][0]["volumeMounts"].append(
            {"name": "keys", "mountPath": "/keys", "readOnly": True}
        )

    return change


def _set_args(deployment: str, *args: str) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        _container(documents, deployment)["args"] = list(args)

    return change


def _probe_path(deployment: str, probe: str, path: str) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        _container(documents, deployment)[probe]["httpGet"]["path"] = path

    return change


def _set_component(deployment: str, component: str) -> Mutation:
    def change(documents: dict[str, dict[str, Any]]) -> None:
        d = documents[f"Deployment/{deployment}"]
        for labels in (
            d["spec"]["selector"]["matchLabels"],
            d["spec"]["template"]["metadata"]["labels"],
        ):
            labels["app.kubernetes.io/component"] = component

    return change


# (how to change the parsed production render, and what the validator says)
STRUCTURAL_BREAKAGES = [
    pytest.param(
        _add_env("recommender", "BVB_MASTER_KEY", **MASTER_KEY),
        "BVB_MASTER_KEY is given to recommender api, which must not hold it",
        id="master-key-to-the-recommender-api",
    ),
    pytest.param(
        _add_env("recommender", "BVB_KEY_STORE_URL", **KEY_STORE),
        "BVB_KEY_STORE_URL is given to recommender api, which must not hold it",
        id="key-store-to-recommender",
    ),
    pytest.param(
        _add_env("portfolio-worker", "BVB_MASTER_KEY", **MASTER_KEY),
        "BVB_MASTER_KEY is given to portfolio worker, which must not hold it",
        id="master-key-to-a-worker",
    ),
    pytest.param(
        _add_env("identity-relay", "BVB_MASTER_KEY", **MASTER_KEY),
        "BVB_MASTER_KEY is given to identity relay, which must not hold it",
        id="master-key-to-a-relay",
    ),
    pytest.param(
        _add_env("recommender", "WRAPPING", **MASTER_KEY),
        "env WRAPPING comes from Secret bilet-master-key, which recommender api must not hold",
        id="master-key-renamed",
    ),
    pytest.param(
        _mount_master_key("recommender"),
        'volume "keys" mounts Secret bilet-master-key',
        id="master-key-as-volume",
    ),
    pytest.param(
        _drop_env("consent", "BVB_MASTER_KEY"),
        "BVB_MASTER_KEY is not set",
        id="key-holder-without-master-key",
    ),
    pytest.param(
        _drop_env("diagnostics", "BVB_MASTER_KEY"),
        "BVB_MASTER_KEY is not set",
        id="diagnostics-without-master-key",
    ),
    pytest.param(
        _drop_env("identity", "BVB_KEY_STORE_URL"),
        "BVB_KEY_STORE_URL is not set",
        id="key-holder-without-key-store",
    ),
    pytest.param(
        _replace_env(
            "identity", "BVB_KEY_STORE_URL", value="postgresql://bilet@keys.invalid/bilet"
        ),
        "env BVB_KEY_STORE_URL carries a secret: take it from a Secret",
        id="key-store-url-literal",
    ),
    pytest.param(
        _replace_env(
            "identity",
            "BVB_KEY_STORE_URL",
            valueFrom={"configMapKeyRef": {"name": "bilet-keys", "key": "url", "optional": True}},
        ),
        "env BVB_KEY_STORE_URL carries a secret: take it from a Secret",
        id="key-store-url-from-configmap",
    ),
    pytest.param(
        _replace_env(
            "consent", "BVB_KEY_STORE_URL", **_from_secret("bilet-consent-database", "url")
        ),
        "BVB_KEY_STORE_URL comes from bilet-consent-database/url and bilet-keys-database/url",
        id="two-key-stores",
    ),
    pytest.param(
        _set_args("consent-relay", "--store", "postgresql://relay:s3cret@db.invalid/bilet"),
        "command/args hold a database URL or a URL with a password",
        id="database-url-in-args",
    ),
    pytest.param(
        _set_args("events-relay", "--store", "$(BVB_RELAY_STORE)"),
        "pass $(BVB_RELAY_STORE) on the command line",
        id="secret-variable-in-args",
    ),
    pytest.param(
        _drop_env("events-relay", "BVB_RELAY_STORE"),
        "BVB_RELAY_STORE is not set",
        id="relay-without-store",
    ),
    pytest.param(
        _drop_env("portfolio-worker", "BVB_DATABASE_URL"),
        "BVB_DATABASE_URL is not set",
        id="worker-without-read-model",
    ),
    pytest.param(
        _drop_env("recommender-worker", "BVB_MASTER_KEY"),
        "BVB_MASTER_KEY is not set",
        id="recommender-worker-without-master-key",
    ),
    pytest.param(
        _probe_path("recommender-worker", "readinessProbe", "/livez"),
        "readinessProbe must be an HTTP GET of /readyz",
        id="worker-readiness-on-the-liveness-path",
    ),
    pytest.param(
        _set_component("consent-worker", "projector"),
        "must be api, relay, worker or job",
        id="unknown-component",
    ),
    pytest.param(
        _add_env("events-relay", "BVB_KAFKA_SASL_PASSWORD", **_from_secret("bilet-kafka", "p")),
        "mount the password from a Secret as a file",
        id="kafka-password-in-a-variable",
    ),
    pytest.param(
        _add_env("portfolio-worker", "BVB_KAFKA_SSL_CAFILE", value="/etc/ssl/kafka-ca.crt"),
        "/etc/ssl/kafka-ca.crt is in no volume mount of the container",
        id="kafka-file-outside-a-mount",
    ),
]


@pytest.mark.parametrize(("change", "complaint"), STRUCTURAL_BREAKAGES)
def test_the_validator_refuses_a_broken_render_structurally(
    k8s_tools: K8sTools, production: str, change: Mutation, complaint: str
) -> None:
    done = k8s_tools.validate(_mutate(production, change))
    assert done.returncode == 1, done.stderr
    assert complaint in done.stderr
    assert "s3cret" not in done.stderr  # the validator does not repeat a password it found


def test_an_unchanged_round_trip_passes(k8s_tools: K8sTools, production: str) -> None:
    # So that each structural breakage fails for its change, not for the YAML round trip.
    k8s_tools.assert_valid(_mutate(production, lambda documents: None))


# ---------------------------------------------------------------- the files themselves


def _shape(text: str, service: str) -> str:
    return re.sub(rf"(?<![a-z]){service}(?![a-z])", "{service}", text)


def test_base_holds_the_service_files_the_worker_files_and_nothing_else() -> None:
    files = {path.name for path in (K8S / "base").glob("*.yaml")}
    assert files == {
        "kustomization.yaml",
        "ingress.yaml",
        *(f"{service}.yaml" for service in SERVICE_NAMES),
        *(f"{service}-worker.yaml" for service in WORKER_SERVICES),
    }


# The six service files and the relays are of one shape each, and so are the workers: what only
# some of them need (identity's pseudonym key, the key holders' keys, the portfolio worker's
# group membership) is patched in by base/kustomization.yaml.
@pytest.mark.parametrize(
    ("folder", "suffix", "services"),
    [
        ("base", ".yaml", SERVICE_NAMES),
        ("base", "-worker.yaml", WORKER_SERVICES),
        ("components/relay-workers", "-relay.yaml", SERVICE_NAMES),
    ],
)
def test_one_file_per_service_all_of_one_shape(
    folder: str, suffix: str, services: tuple[str, ...]
) -> None:
    first = services[0]
    model = _shape((K8S / folder / f"{first}{suffix}").read_text(encoding="utf-8"), first)
    for service in services[1:]:
        text = (K8S / folder / f"{service}{suffix}").read_text(encoding="utf-8")
        assert _shape(text, service) == model, f"{folder}/{service}{suffix} differs in shape"
    kustomization = (K8S / folder / "kustomization.yaml").read_text(encoding="utf-8")
    for service in services:
        assert f"  - {service}{suffix}\n" in kustomization
    assert "BVB_MASTER_KEY" not in model  # only the patch gives it, to the key holders


def test_relay_files_are_the_relays_and_nothing_else() -> None:
    files = {path.name for path in (K8S / "components" / "relay-workers").glob("*.yaml")}
    assert files == {"kustomization.yaml", *(f"{service}-relay.yaml" for service in SERVICE_NAMES)}


def _command(text: str) -> list[str]:
    match = re.search(r"^          command:\n((?:            - .*\n)+)", text, re.M)
    assert match is not None
    return [line.removeprefix("            - ") for line in match.group(1).splitlines()]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_relay_runs_the_relay_module_on_its_own_store(service: str) -> None:
    text = (K8S / "components" / "relay-workers" / f"{service}-relay.yaml").read_text("utf-8")
    assert _command(text) == f"python -m bilet.relay --service {service}".split()
    # The store's URL comes from the environment (bilet.relay reads BVB_RELAY_STORE), from the
    # service's own database Secret.
    assert (
        "            - name: BVB_RELAY_STORE\n"
        "              valueFrom:\n"
        "                secretKeyRef:\n"
        f"                  name: bilet-{service}-database\n"
    ) in text
    assert f"image: bilet/{service}:" in text


@pytest.mark.parametrize("service", WORKER_SERVICES)
def test_each_worker_runs_its_module_on_its_own_database(service: str) -> None:
    text = (K8S / "base" / f"{service}-worker.yaml").read_text("utf-8")
    assert _command(text) == f"python -m bilet_{service}.worker".split()
    assert (
        "            - name: BVB_DATABASE_URL\n"
        "              valueFrom:\n"
        "                secretKeyRef:\n"
        f"                  name: bilet-{service}-database\n"
    ) in text
    assert f"image: bilet/{service}:" in text


# ---------------------------------------------------------------- Kafka and the edge (ADR 0022)


def _config(manifests: str) -> dict[str, str]:
    (config,) = [
        doc["data"]
        for doc in _documents(manifests)
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("bilet-config")
    ]
    return dict(config)


def test_production_reaches_kafka_over_tls_with_scram_and_mounted_secrets(
    production: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(production)
    assert config["BVB_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["BVB_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert "BVB_KAFKA_SASL_PASSWORD" not in config
    # The settings the processes will read are ones bilet.kafka accepts.
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    connection = PlatformSettings().kafka_connection()
    files = {connection.sasl_password_file, connection.ssl_cafile}
    assert None not in files
    for deployment in _deployments(production).values():
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for file in files:
            assert file is not None
            mount = mounts[str(file.parent)]
            assert mount["readOnly"] is True
            sources = volumes[mount["name"]]["projected"]["sources"]
            assert {s["secret"]["name"] for s in sources} == {
                "bilet-kafka-user",
                "bilet-kafka-cluster-ca",
            }


def test_every_published_topic_and_its_dead_letters_are_declared(production: str) -> None:
    topics = {
        doc["spec"]["topicName"]: doc["spec"]
        for doc in _documents(production)
        if doc["kind"] == "KafkaTopic"
    }
    published = {topic_of(service) for service in SERVICE_NAMES}
    assert set(topics) == published | {dlq_topic(topic) for topic in published}
    config = _config(production)
    for name, spec in topics.items():
        assert spec["replicas"] == 3
        assert spec["config"] == {
            "min.insync.replicas": 2,
            "retention.ms": -1,
            "retention.bytes": -1,
        }
        if name in published:
            assert spec["partitions"] == int(config["BVB_RELAY_PARTITIONS"])
    # Declared, so the relays create none: a missing topic is named, not made with one copy.
    assert config["BVB_RELAY_CREATE_TOPICS"] == "false"


def _body_limit_bytes(ingress: dict[str, Any]) -> int:
    """ingress-nginx's proxy-body-size (`client_max_body_size`), 1m when not set."""
    value = (
        ingress["metadata"]
        .get("annotations", {})
        .get("nginx.ingress.kubernetes.io/proxy-body-size", "1m")
    )
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_lets_a_full_size_consent_document_through(
    k8s_tools: K8sTools, overlay: str
) -> None:
    limits = {
        path["path"]: _body_limit_bytes(doc)
        for doc in _documents(k8s_tools.render(K8S / "overlays" / overlay))
        if doc["kind"] == "Ingress"
        for rule in doc["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    consent = ConsentSettings()
    assert limits["/consent"] >= consent.max_body_bytes
    # Not far beyond it either: nginx buffers what it lets through.
    assert limits["/consent"] <= 2 * consent.max_body_bytes
    assert all(limit == 1 << 20 for path, limit in limits.items() if path != "/consent")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_relay_is_probed_and_scraped_on_its_health_port(
    k8s_tools: K8sTools, overlay: str
) -> None:
    relays = {
        name: d
        for name, d in _deployments(k8s_tools.render(K8S / "overlays" / overlay)).items()
        if d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "relay"
    }
    assert set(relays) == {f"{service}-relay" for service in SERVICE_NAMES}
    for deployment in relays.values():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        (port,) = container["ports"]
        assert _env(deployment)["BVB_RELAY_METRICS_PORT"]["value"] == str(port["containerPort"])
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port["name"]}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert "validate.bilet/probes-exempt" not in deployment["metadata"].get("annotations", {})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_recommender_worker_is_probed_and_scraped_on_its_health_port(
    k8s_tools: K8sTools, overlay: str
) -> None:
    """The faust worker answers /livez and /readyz beside /metrics on its `metrics` port (ADR
    0047; scraped there as every worker is, PodMonitor bilet-workers); the other workers serve
    /metrics only and say why they have no probes."""
    rendered = k8s_tools.render(K8S / "overlays" / overlay)
    deployments = _deployments(rendered)
    worker = deployments["recommender-worker"]
    container = worker["spec"]["template"]["spec"]["containers"][0]
    (port,) = container["ports"]
    assert port == {"name": "metrics", "containerPort": 9101, "protocol": "TCP"}
    assert _env(worker)["BVB_RECOMMENDER_WORKER_METRICS_PORT"]["value"] == "9101"
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9101"
    for probe, path in (
        ("startupProbe", "/livez"),
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    assert "validate.bilet/probes-exempt" not in worker["metadata"].get("annotations", {})
    for service in WORKER_SERVICES:
        if service != "recommender":
            others = deployments[f"{service}-worker"]
            assert "validate.bilet/probes-exempt" in others["metadata"]["annotations"]
    annotations = worker["metadata"].get("annotations", {})
    assert "checkov.io/skip1" not in annotations
    assert "checkov.io/skip2" not in annotations


def _metric_names() -> set[str]:
    """Every series name the relays, projections and consent's destruction job export (counters
    end in `_total`)."""
    names = set()
    projections, consent = CollectorRegistry(), CollectorRegistry()
    ProjectionMetrics(projections)
    ErasureMetrics(consent)
    for registry in (RelayMetrics().registry, projections, consent):
        for family in registry.collect():
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_production_alerts_on_what_readiness_no_longer_says(production: str) -> None:
    rules = [
        rule
        for doc in _documents(production)
        if doc["kind"] == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    ]
    alerts = {rule["alert"]: rule["expr"] for rule in rules}
    assert {"BiletRelayStalled", "BiletProjectionLagHigh", "BiletDeadLetters"} <= set(alerts)
    assert "bilet_projection_consumer_lag) > 1000" in alerts["BiletProjectionLagHigh"]
    known = _metric_names()
    for alert, expr in alerts.items():
        used = set(re.findall(r"\b(?:bilet|bvb)_[a-z_]+", expr))
        assert used, alert
        assert used <= known, f"{alert} reads metrics nobody exports: {sorted(used - known)}"
    monitors = {
        doc["metadata"]["name"]: doc["spec"]
        for doc in _documents(production)
        if doc["kind"] == "PodMonitor"
    }
    assert set(monitors) == {"bilet-relays", "bilet-consent", "bilet-workers"}
    assert monitors["bilet-relays"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "relay"
    }


def test_production_alerts_on_the_destruction_job(production: str) -> None:
    """Overdue erasures (a legal deadline) and a destruction job nobody leads (ADR 0028) page
    someone; consent's API is scraped where those metrics are."""
    alerts = {
        rule["alert"]: rule["expr"]
        for doc in _documents(production)
        if doc["kind"] == "PrometheusRule"
        for group in doc["spec"]["groups"]
        for rule in group["rules"]
    }
    assert "bvb_consent_erasures_overdue) > 0" in alerts["BiletErasuresOverdue"]
    assert "sum(bvb_consent_erasure_job_leader) == 0" in alerts["BiletDestructionJobLeaderless"]
    (consent,) = [
        doc["spec"]
        for doc in _documents(production)
        if doc["kind"] == "PodMonitor" and doc["metadata"]["name"] == "bilet-consent"
    ]
    assert consent["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "consent",
        "app.kubernetes.io/component": "api",
    }
    assert consent["podMetricsEndpoints"] == [
        {"port": "http", "path": "/consent/metrics", "interval": "60s"}
    ]
