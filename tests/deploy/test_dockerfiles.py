"""The service images: one Dockerfile per service, each building its own package, all of one shape.

No Docker engine runs the builds here; these checks read the files (see docs/adr/0009).
"""

import json
import re
from pathlib import Path

import pytest

from bilet.services import SERVICE_NAMES

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"


def _dockerfile(service: str) -> str:
    return (SERVICES / service / "Dockerfile").read_text(encoding="utf-8")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(arguments.split())))
    return result


def test_one_dockerfile_per_service_and_no_other() -> None:
    folders = {path.name for path in SERVICES.iterdir() if path.is_dir()}
    assert folders == set(SERVICE_NAMES)
    assert {path.parent.name for path in SERVICES.glob("*/Dockerfile")} == set(SERVICE_NAMES)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_dockerfile_builds_and_runs_its_own_service_package(service: str) -> None:
    steps = _instructions(_dockerfile(service))
    syncs = [
        arguments for keyword, arguments in steps if keyword == "RUN" and "uv sync" in arguments
    ]
    assert len(syncs) == 2
    for sync in syncs:
        for flag in ("--locked", "--no-dev", f"--package bilet-{service}", "--no-editable"):
            assert flag in sync
    assert ("COPY", f"services/{service}/src services/{service}/src") in steps
    entrypoint = json.loads(dict(steps)["ENTRYPOINT"])
    assert entrypoint[:3] == ["uvicorn", f"bilet_{service}.app:create_app", "--factory"]
    assert "--proxy-headers" in entrypoint
    assert entrypoint[entrypoint.index("--port") + 1] == "8000"
    for other in set(SERVICE_NAMES) - {service}:
        # Other members' pyproject.toml files are copied (uv checks the whole workspace's lock);
        # nothing else of another service may be named.
        workspace_member = ("COPY", f"services/{other}/pyproject.toml services/{other}/")
        rest = [
            arguments for keyword, arguments in steps if (keyword, arguments) != workspace_member
        ]
        for arguments in rest:
            assert not re.search(rf"bilet[-_]{other}\b|services/{other}/", arguments), arguments


def test_the_dockerfiles_share_one_shape() -> None:
    def shape(service: str) -> str:
        return "\n".join(
            line
            if line.startswith("COPY services/") and "pyproject.toml" in line
            else re.sub(rf"(?<![a-z]){service}(?![a-z])", "{service}", line)
            for line in _dockerfile(service).splitlines()
        )

    model = shape(SERVICE_NAMES[0])
    for service in SERVICE_NAMES[1:]:
        assert shape(service) == model, f"services/{service}/Dockerfile differs in shape"


def test_the_image_is_pinned_slim_unprivileged_and_shell_free() -> None:
    steps = _instructions(_dockerfile(SERVICE_NAMES[0]))
    base = dict(steps)["ARG"]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim(-[a-z]+)?", base), base
    assert [arguments for keyword, arguments in steps if keyword == "FROM"] == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS runtime",
    ]
    runtime = steps[steps.index(("FROM", "${PYTHON_IMAGE} AS runtime")) :]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert uv_version is not None
    assert ("RUN", f"pip install uv=={uv_version.group(1)}") in steps  # the Makefile's uv
    assert ("COPY", "--from=build /app/.venv /app/.venv") in runtime
    user = re.fullmatch(r"(\d+):(\d+)", dict(runtime)["USER"])
    assert user is not None
    assert int(user.group(1)) > 0
    assert int(user.group(2)) > 0
    assert ("EXPOSE", "8000") in runtime
    assert dict(runtime)["ENTRYPOINT"].startswith("[")  # exec form: no shell at run time
    assert "CMD" not in dict(runtime)
    # What the Kubernetes manifests run as is what the image is built for.
    for path in (REPO / "deploy" / "k8s").glob("**/*.yaml"):
        for uid in re.findall(r"runAsUser: (\d+)", path.read_text(encoding="utf-8")):
            assert uid == user.group(1), path


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    parts = []
    for segment in pattern.strip("/").split("/"):
        if segment == "**":
            parts.append(".*")
            continue
        translated = "".join(
            "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
            for char in segment
        )
        parts.append(translated)
    return re.compile("/".join(parts).replace(".*/", "(?:.*/)?"))


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is out if it or a parent matches; the last matching line wins."""
    parents = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    ignored = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = _dockerignore_regex(raw.removeprefix("!"))
        if any(regex.fullmatch(candidate) for candidate in parents):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_out_and_what_the_builds_copy_in() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    local_state = [".git", ".venv", ".tools", "var", ".mypy_cache", ".ruff_cache", ".pytest_cache"]
    for local in [*local_state, "shared/src/bilet/__pycache__", "services/identity/.venv"]:
        assert _ignored(local, patterns), local
    for service in SERVICE_NAMES:
        for keyword, arguments in _instructions(_dockerfile(service)):
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            *sources, _target = arguments.split()
            for source in sources:
                assert (REPO / source).exists(), f"{service}: COPY {source}: no such path"
                assert not _ignored(source, patterns), f"{service}: COPY {source} is dockerignored"
