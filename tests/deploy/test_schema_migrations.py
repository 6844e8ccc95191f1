"""The migrations Jobs (component schema-migrations, ADR 0057): each service's schemas are made
by `python -m bilet.migrate` from its own image as the database's DDL role, and the
Deployments only verify them (`BVB_SCHEMA=verify`), in every environment."""

import subprocess
import sys
from typing import Any

import pytest
import yaml

from bilet.services import SERVICE_NAMES
from tests.deploy.test_k8s_manifests import (
    BUILD_SECONDS,
    K8S,
    K8sTools,
    k8s_tools,  # noqa: F401 - the session fixture, shared
)

pytestmark = pytest.mark.timeout(BUILD_SECONDS + 300)

OVERLAYS = ["production", "staging"]


def _rendered(k8s_tools: K8sTools, overlay: str) -> list[dict[str, Any]]:  # noqa: F811
    manifests = k8s_tools.render(K8S / "overlays" / overlay)
    k8s_tools.assert_valid(manifests)
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, k8s_tools: K8sTools) -> list[dict[str, Any]]:  # noqa: F811
    return _rendered(k8s_tools, request.param)


def _of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def _config(documents: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [doc["data"] for doc in documents if doc["kind"] == "ConfigMap"]
    return dict(config)


def test_every_service_has_a_migrations_job_run_from_its_own_image_as_the_ddl_role(
    rendered: list[dict[str, Any]],
) -> None:
    crons = _of_kind(rendered, "CronJob")
    deployments = _of_kind(rendered, "Deployment")
    for service in SERVICE_NAMES:
        cron = crons[f"{service}-migrate"]["spec"]
        assert cron["suspend"] is True  # started by the release, never by a schedule
        assert cron["concurrencyPolicy"] == "Forbid"
        (container,) = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", "bilet.migrate", "--service", service]
        api = deployments[service]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == api["image"]
        env = {entry["name"]: entry for entry in container.get("env", [])}
        assert env["BVB_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == (
            f"bilet-{service}-migrations"
        )
        # Tables, never keys: the key store's role makes its own (it must own them).
        assert "BVB_MASTER_KEY" not in env
        assert "BVB_KEY_STORE_URL" not in env


def test_every_deployment_only_verifies_its_schemas(rendered: list[dict[str, Any]]) -> None:
    config = _config(rendered)
    assert config["BVB_SCHEMA"] == "verify"
    deployments = _of_kind(rendered, "Deployment")
    assert deployments
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            sources = [ref["configMapRef"]["name"] for ref in container.get("envFrom", [])]
            assert any(source.startswith("bilet-config") for source in sources), name
            overridden = {entry["name"] for entry in container.get("env", [])}
            assert "BVB_SCHEMA" not in overridden, name
            assert not any(
                entry.get("valueFrom", {})
                .get("secretKeyRef", {})
                .get("name", "")
                .endswith("-migrations")
                for entry in container.get("env", [])
            ), f"{name} runs as a DDL role"


def test_the_migration_command_is_one_the_images_hold() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bilet.migrate", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--service" in done.stdout
    for service in SERVICE_NAMES:
        assert service in done.stdout
