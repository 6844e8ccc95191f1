"""The service images: one Dockerfile at the repository root, built once per service with the
build argument SERVICE; each image holds that service's package and starts its API.

No Docker engine runs the builds here; these checks read the file as Docker would (build
arguments substituted where Docker substitutes them) and hold the manifests to it
(see docs/adr/0009 and 0013).
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bilet.http.serve import main as serve_main
from bilet.services import SERVICE_NAMES

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "services"
DOCKERFILE = REPO / "Dockerfile"
# Docker substitutes build arguments in these instructions, never in RUN (the shell does) or in
# an exec-form ENTRYPOINT or CMD (nothing does).
SUBSTITUTED = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "USER", "WORKDIR"})


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


def _stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions, by the stage's name (what precedes the first FROM: "")."""
    stages: dict[str, list[tuple[str, str]]] = {"": []}
    current = ""
    for keyword, arguments in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            current = arguments.rpartition(" AS ")[2]
            stages[current] = []
        stages[current].append((keyword, arguments))
    return stages


def built_for(service: str) -> list[tuple[str, str]]:
    """The instructions as `docker build --build-arg SERVICE=<service>` runs them: build
    arguments substituted where Docker substitutes them, in the stages that declare them."""
    steps: list[tuple[str, str]] = []
    for stage in _stages().values():
        arguments_known: set[str] = set()
        for keyword, arguments in stage:
            if keyword == "ARG":
                arguments_known.add(arguments.partition("=")[0])
            elif keyword in SUBSTITUTED and "SERVICE" in arguments_known:
                arguments = re.sub(r"\$\{SERVICE\}|\$SERVICE\b", service, arguments)
            steps.append((keyword, arguments))
    return steps


def test_one_image_definition_and_no_other() -> None:
    folders = {path.name for path in SERVICES.iterdir() if path.is_dir()}
    assert folders == set(SERVICE_NAMES)
    dockerfiles = {
        path.relative_to(REPO)
        for path in REPO.glob("**/Dockerfile*")
        if not {".venv", ".tools", "var"} & set(path.relative_to(REPO).parts)
    }
    assert dockerfiles == {Path("Dockerfile")}


def test_the_service_is_a_build_argument_without_a_default() -> None:
    for name in ("build", "runtime"):
        assert ("ARG", "SERVICE") in _stages()[name], name
    # A build without the argument stops with a message, before anything is installed.
    build = _stages()["build"]
    check = build.index(("ARG", "SERVICE")) + 1
    assert build[check][0] == "RUN"
    assert 'test -n "${SERVICE}"' in build[check][1]
    assert "exit 1" in build[check][1]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_image_builds_and_runs_its_own_service_package(service: str) -> None:
    steps = built_for(service)
    syncs = [
        arguments for keyword, arguments in steps if keyword == "RUN" and "uv sync" in arguments
    ]
    assert len(syncs) == 2
    for sync in syncs:
        # Expanded by the build stage's shell from the declared build argument.
        for flag in ("--locked", "--no-dev", '--package "bilet-${SERVICE}"', "--no-editable"):
            assert flag in sync
    assert ("COPY", f"services/{service}/src services/{service}/src") in steps
    assert ("COPY", "shared/src shared/src") in steps
    runtime = steps[steps.index(("FROM", "${PYTHON_IMAGE} AS runtime")) :]
    environment = dict(runtime)["ENV"]
    assert f"BVB_SERVICE={service}" in environment.split()
    entrypoint = json.loads(dict(runtime)["ENTRYPOINT"])
    assert entrypoint[:3] == ["python", "-m", "bilet.http.serve"]
    assert entrypoint[entrypoint.index("--port") + 1] == "8000"
    assert entrypoint[entrypoint.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - in a pod
    # Other members' pyproject.toml files are copied (uv checks the whole workspace's lock);
    # no other service's sources are.
    copied = [arguments for keyword, arguments in steps if keyword == "COPY"]
    for other in set(SERVICE_NAMES) - {service}:
        assert not any(f"services/{other}/src" in arguments for arguments in copied)


def test_the_entry_point_accepts_exactly_the_image_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the ENTRYPOINT passes parses; the service comes from BVB_SERVICE (a typo stops it).
    entrypoint = json.loads(dict(built_for("identity"))["ENTRYPOINT"])
    monkeypatch.setenv("BVB_SERVICE", "not-a-service")
    assert serve_main(entrypoint[3:]) == 2


def test_the_image_is_pinned_slim_unprivileged_and_shell_free() -> None:
    steps = built_for(SERVICE_NAMES[0])
    base = dict(_stages()[""])["ARG"]  # the one argument before the first FROM
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


def _containers() -> list[tuple[Path, dict[str, Any]]]:
    """Every container of every Deployment in deploy/k8s, with its file."""
    found = []
    for path in sorted((REPO / "deploy" / "k8s").glob("**/*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == "Deployment":
                for container in document["spec"]["template"]["spec"]["containers"]:
                    found.append((path, container))
    return found


def test_every_process_runs_from_its_own_service_image_and_what_that_image_holds() -> None:
    containers = _containers()
    assert len(containers) >= len(SERVICE_NAMES)
    for path, container in containers:
        image = re.fullmatch(r"bilet/([a-z]+):\S+", container["image"])
        assert image is not None, f"{path}: {container['image']}"
        service = image.group(1)
        assert service in SERVICE_NAMES, path
        assert path.name.startswith(service), f"{path} runs the {service} image"
        command = container.get("command")
        if command is None:
            continue  # the image's entry point: the service's API
        # `python -m MODULE`: a module of the kernel or of this image's service, nothing else
        # is installed in it.
        assert command[:2] == ["python", "-m"], path
        assert command[2].split(".")[0] in ("bilet", f"bilet_{service}"), path


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
        for keyword, arguments in built_for(service):
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            *sources, _target = arguments.split()
            for source in sources:
                assert (REPO / source).exists(), f"{service}: COPY {source}: no such path"
                assert not _ignored(source, patterns), f"{service}: COPY {source} is dockerignored"
