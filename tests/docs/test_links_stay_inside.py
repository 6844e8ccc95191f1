"""A fresh clone stands alone: no Markdown file of the repository links outside it.

Every link (`[text](target)`, `![image](target)`, `[name]: target`) is a web address, an anchor,
or a relative path to a file or folder inside the repository that exists; a path quoted as inline
code that climbs out of its folder (`../…`) must land inside the repository too. An absolute file
path or a `file:` address names somebody's machine, not the repository.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Folders that are not the repository's documents: tools, environments, run-time data.
SKIPPED = {".git", ".venv", ".tools", "var", "node_modules", ".mypy_cache", ".ruff_cache"}
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
CODE_PATH = re.compile(r"`(\.\./[^`\s]*)`")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
WEB = ("http://", "https://", "mailto:")


def markdown_files() -> Iterator[Path]:
    for path in sorted(REPO.rglob("*.md")):
        if not SKIPPED.intersection(path.relative_to(REPO).parts):
            yield path


def outside_links(path: Path, text: str) -> list[str]:
    """The links of `text` (the content of `path`) that do not stay inside the repository."""
    prose = FENCE.sub("", text)
    wrong = []
    targets = INLINE_LINK.findall(prose) + REFERENCE.findall(prose)
    for target in targets:
        if target.startswith(WEB) or target.startswith("#"):
            continue
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target) or target.startswith("/"):
            wrong.append(f"{target} (not a repository path)")
            continue
        if not _inside(path, target, must_exist=True):
            wrong.append(target)
    wrong += [code for code in CODE_PATH.findall(prose) if not _inside(path, code, False)]
    return wrong


def _inside(path: Path, target: str, must_exist: bool) -> bool:
    relative = target.split("#", 1)[0].split("?", 1)[0]
    resolved = (path.parent / relative).resolve()
    if not resolved.is_relative_to(REPO):
        return False
    return resolved.exists() or not must_exist


@pytest.mark.parametrize(
    "path", list(markdown_files()), ids=lambda path: str(path.relative_to(REPO))
)
def test_no_markdown_file_links_outside_the_repository(path: Path) -> None:
    assert outside_links(path, path.read_text(encoding="utf-8")) == []


def test_the_domain_and_house_design_live_in_the_repository() -> None:
    domain = REPO / "docs" / "domain"
    for name in ("DOMAIN.md", "ARCHITECTURE.md", "STYLE.md", "seed/programme-description.ru.txt"):
        assert (domain / name).is_file(), name
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/domain/DOMAIN.md)" in readme
    assert "(docs/domain/ARCHITECTURE.md)" in readme


@pytest.mark.parametrize(
    "line",
    [
        "The house design is `../shared/ARCHITECTURE.md` (beside the checkout).",
        "See [the domain](../shared/DOMAIN.md).",
        "See [the domain](/work/shared/DOMAIN.md).",
        "See [a file](file:///work/shared/DOMAIN.md).",
        "[domain]: ../../shared/DOMAIN.md",
        "See [a missing page](docs/nowhere.md).",
    ],
)
def test_a_link_outside_the_repository_is_found(line: str) -> None:
    assert outside_links(REPO / "README.md", line) != []


def test_links_inside_the_repository_and_to_the_web_pass() -> None:
    text = (
        "See [ADRs](docs/adr/), [the domain](docs/domain/DOMAIN.md#glossary), [top](#bilet), "
        "<https://example.org>, [web](https://example.org/a_(b)).\n"
        "```sh\ncat ../shared/DOMAIN.md\n```\n"
    )
    assert outside_links(REPO / "README.md", text) == []
