"""The Kubernetes manifests (deploy/k8s), checked without a cluster.

Every overlay, and the base with every combination of the opt-in components, is rendered with
kustomize and handed to the validator (deploy/k8s/validate): each object is decoded strictly into
the real Kubernetes API type of its apiVersion/kind, then held to the house rules. Both tools are
built with Go, once, under var/tools/ (rebuilt only when a pin or the validator's source changes).
"""

import hashlib
import itertools
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bilet.services import SERVICE_NAMES

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
VALIDATOR_SOURCE = K8S / "validate"
TOOLS = REPO / "var" / "tools"
# v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with Go 1.26.
KUSTOMIZE_VERSION = "v5.8.2"
GO_NEEDED = "Go 1.26 or newer"
COMPONENTS = ("network-policies", "pod-disruption-budgets", "relay-workers")
OVERLAYS = ("staging", "production")
BUILD_SECONDS = 900

# A cold build (empty Go module and build caches) takes about two minutes on two cores: more
# than the suite's default per-test timeout, which counts the fixture's setup.
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 120)


def image_uid() -> str:
    """The numeric user of the service images (`USER uid:gid` in every Dockerfile)."""
    uids = {
        match.group(1)
        for path in REPO.glob("services/*/Dockerfile")
        for match in re.finditer(r"^USER (\d+):\d+$", path.read_text(encoding="utf-8"), re.M)
    }
    assert len(uids) == 1, f"the service images disagree on their user: {sorted(uids)}"
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
        "Deployment": 2 * len(SERVICE_NAMES),  # the APIs and their relays
        "NetworkPolicy": 6,
        "PodDisruptionBudget": 0,
        "HorizontalPodAutoscaler": 0,
    },
    "production": {
        "Deployment": 2 * len(SERVICE_NAMES),
        "NetworkPolicy": 6,
        "PodDisruptionBudget": len(SERVICE_NAMES),
        "HorizontalPodAutoscaler": 1,
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_passes_the_house_rules(k8s_tools: K8sTools, overlay: str) -> None:
    kinds = k8s_tools.assert_valid(k8s_tools.render(K8S / "overlays" / overlay))
    assert kinds["Namespace"] == 1
    for kind, count in EXPECTED_KINDS[overlay].items():
        assert kinds[kind] == count, kind


def test_production_autoscales_portfolio(k8s_tools: K8sTools) -> None:
    done = k8s_tools.validate(k8s_tools.render(K8S / "overlays" / "production"))
    assert "HorizontalPodAutoscaler bilet-production/portfolio" in done.stdout.splitlines()


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
    assert kinds["Deployment"] == len(SERVICE_NAMES) * (2 if relays else 1)
    assert kinds["NetworkPolicy"] == (6 if "network-policies" in components else 0)
    assert kinds["PodDisruptionBudget"] == (
        len(SERVICE_NAMES) if "pod-disruption-budgets" in components else 0
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
        "image: bilet/identity:0.1.0",
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
        "$(BVB_DATABASE_URL)",
        "$(BVB_DATABASE_URI)",
        "would pass the text unexpanded",
        id="unresolved-variable",
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


# ---------------------------------------------------------------- the files themselves


def _shape(text: str, service: str) -> str:
    return re.sub(rf"(?<![a-z]){service}(?![a-z])", "{service}", text)


@pytest.mark.parametrize(
    ("folder", "suffix"), [("base", ".yaml"), ("components/relay-workers", "-relay.yaml")]
)
def test_one_file_per_service_all_of_one_shape(folder: str, suffix: str) -> None:
    files = {path.name for path in (K8S / folder).glob("*.yaml")} - {
        "kustomization.yaml",
        "ingress.yaml",
    }
    assert files == {f"{service}{suffix}" for service in SERVICE_NAMES}
    first = SERVICE_NAMES[0]
    model = _shape((K8S / folder / f"{first}{suffix}").read_text(encoding="utf-8"), first)
    for service in SERVICE_NAMES[1:]:
        text = (K8S / folder / f"{service}{suffix}").read_text(encoding="utf-8")
        assert _shape(text, service) == model, f"{folder}/{service}{suffix} differs in shape"
    kustomization = (K8S / folder / "kustomization.yaml").read_text(encoding="utf-8")
    for service in SERVICE_NAMES:
        assert f"  - {service}{suffix}\n" in kustomization


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_relay_runs_the_relay_module_on_its_own_store(service: str) -> None:
    text = (K8S / "components" / "relay-workers" / f"{service}-relay.yaml").read_text("utf-8")
    command = f"python -m bilet.relay --service {service} --store $(BVB_DATABASE_URL)".split()
    assert "          command:\n" + "".join(f"            - {w}\n" for w in command) in text
    assert f"name: bilet-{service}-database\n" in text
    assert f"image: bilet/{service}:" in text
