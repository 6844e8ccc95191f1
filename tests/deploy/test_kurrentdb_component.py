"""Component `kurrentdb-event-store` (ADR 0058) on top of the production overlay: the render
passes the house rules, every process of the five services it moves is given the settings a
KurrentDB store needs (and starts with them: its settings validate), identity stays on
PostgreSQL, and the pods may reach KurrentDB's port."""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bilet.settings import PlatformSettings
from tests.deploy.test_k8s_manifests import (
    BUILD_SECONDS,
    K8S,
    K8sTools,
    k8s_tools,  # noqa: F401 - the session fixture, shared
)

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 300)

MOUNT = "/var/run/secrets/bilet/kurrentdb"


@pytest.fixture(scope="module")
def rendered(k8s_tools: K8sTools, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:  # noqa: F811
    folder = tmp_path_factory.mktemp("kurrentdb-overlay")
    production = os.path.relpath(K8S / "overlays" / "production", folder)
    component = os.path.relpath(K8S / "components" / "kurrentdb-event-store", folder)
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: bilet-production\n"
        f"resources:\n  - {production}\ncomponents:\n  - {component}\n",
        encoding="utf-8",
    )
    manifests = k8s_tools.render(folder)
    k8s_tools.assert_valid(manifests)
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def pod_specs(documents: list[Any]) -> dict[str, dict[str, Any]]:
    """Each Deployment's and migration CronJob's pod spec, by name."""
    specs = {}
    for doc in documents:
        if doc["kind"] == "Deployment":
            specs[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob" and doc["metadata"]["name"].endswith("-migrate"):
            specs[doc["metadata"]["name"]] = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return specs


def environment_of(spec: dict[str, Any], config: dict[str, str]) -> dict[str, str]:
    """The variables the container starts with: bilet-config, then its own (which win); a
    Secret's value stands as a placeholder of the right shape."""
    variables = dict(config)
    for variable in spec["containers"][0].get("env", []):
        if "value" in variable:
            variables[variable["name"]] = variable["value"]
        else:
            variables[variable["name"]] = "postgresql://bilet:secret@db.invalid/bilet"
    return variables


def test_the_five_services_run_on_kurrentdb_and_identity_stays_on_postgresql(
    rendered: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (config,) = [d["data"] for d in rendered if d["kind"] == "ConfigMap"]
    assert config["BVB_EVENT_STORE"] == "kurrentdb"
    assert config["BVB_KURRENTDB_URL_FILE"] == f"{MOUNT}/url"
    specs = pod_specs(rendered)
    assert len(specs) == 6 * 3 + 6  # API, worker, relay and migrations of each service
    for name, spec in specs.items():
        variables = environment_of(spec, config)
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        secrets = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        if name.startswith("identity"):
            assert variables["BVB_EVENT_STORE"] == "postgres", name
            assert MOUNT not in mounts, name
            assert "bilet-kurrentdb" not in secrets, name
        else:
            assert variables["BVB_EVENT_STORE"] == "kurrentdb", name
            assert MOUNT in mounts, name
            assert "bilet-kurrentdb" in secrets, name
        # The process would start with these settings (the read model's and the key store's
        # kinds are explicit, as KurrentDB requires).
        for key in [k for k in os.environ if k.startswith("BVB_")]:
            monkeypatch.delenv(key)
        for key, value in variables.items():
            monkeypatch.setenv(key, value)
        try:
            settings = PlatformSettings(var_dir=tmp_path)
        except ValidationError as error:
            pytest.fail(f"{name} would not start: {error}")
        assert (settings.read_model_kind, settings.key_store_kind) == ("postgres", "postgres")


def test_the_pods_may_reach_kurrentdb(rendered: list[Any]) -> None:
    policies = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "NetworkPolicy"}
    (egress,) = policies["allow-kurrentdb"]["spec"]["egress"]
    assert egress["ports"] == [{"protocol": "TCP", "port": 2113}]
    selector = policies["allow-kurrentdb"]["spec"]["podSelector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/part-of": "bilet"}
