"""List cursors are signed under a key every replica derives alike, bound to their school, filters
and sort; anything else is `invalid_cursor` before it can reach a query."""

import base64
from pathlib import Path

import pytest

from bilet.crypto.master import MasterKeyError
from bilet.settings import Environment
from bilet_portfolio.adapters.stores import list_cursor_key
from bilet_portfolio.application.errors import InvalidCursor
from bilet_portfolio.application.listing import After, ListCursors, SchoolQuery, SortKey
from bilet_portfolio.settings import PortfolioSettings

SCHOOL = "7c1d8a52-0b7e-4a43-9d0e-3a2f1e6b9c10"
MASTER = base64.b64encode(bytes(range(32))).decode()


def test_a_cursor_pages_on_for_its_school_and_query_only() -> None:
    cursors = ListCursors(bytes(32))
    query = SchoolQuery(sort=SortKey.GRADE)
    cursor = cursors.encode(SCHOOL, query, After(7, "p-1"))
    assert cursors.decode(SCHOOL, query, cursor) == After(7, "p-1")
    for school, other in (
        ("another-school", query),
        (SCHOOL, SchoolQuery(sort=SortKey.GRADE, grade=7)),
        (SCHOOL, SchoolQuery(sort=SortKey.GRADE_DESC)),
    ):
        with pytest.raises(InvalidCursor):
            cursors.decode(school, other, cursor)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c.partition(".")[0],  # no signature
        lambda c: c[:-1],
        lambda c: c + "A",
        lambda c: c.replace(".", ".."),
        lambda c: c.replace(".", "=."),  # padding is not how cursors are written
        lambda c: "",
    ],
)
def test_a_mangled_cursor_is_refused(mangle: object) -> None:
    cursors = ListCursors(bytes(32))
    cursor = cursors.encode(SCHOOL, SchoolQuery(), After("p-1", "p-1"))
    assert callable(mangle)
    with pytest.raises(InvalidCursor):
        cursors.decode(SCHOOL, SchoolQuery(), mangle(cursor))


def test_a_cursor_signed_under_another_key_is_stale() -> None:
    cursor = ListCursors(bytes(32)).encode(SCHOOL, SchoolQuery(), After("p-1", "p-1"))
    with pytest.raises(InvalidCursor):
        ListCursors(bytes([1]) * 32).decode(SCHOOL, SchoolQuery(), cursor)


def test_every_replica_derives_the_same_key_from_the_configured_master_key(
    tmp_path: Path,
) -> None:
    settings = PortfolioSettings(
        environment=Environment.PRODUCTION, master_key=MASTER, var_dir=tmp_path
    )
    replica = PortfolioSettings(
        environment=Environment.PRODUCTION, master_key=MASTER, var_dir=tmp_path / "elsewhere"
    )
    key = list_cursor_key(settings)
    assert key == list_cursor_key(replica)
    assert key != base64.b64decode(MASTER)  # derived for this purpose, not the master key
    secret = PortfolioSettings(
        environment=Environment.PRODUCTION,
        master_key=MASTER,
        portfolio_cursor_secret="s" * 32,
        var_dir=tmp_path,
    )
    assert list_cursor_key(secret) not in (key, b"s" * 32)


def test_development_derives_it_from_the_master_key_under_var_and_production_needs_one(
    tmp_path: Path,
) -> None:
    development = PortfolioSettings(var_dir=tmp_path)
    assert list_cursor_key(development) == list_cursor_key(development)
    with pytest.raises(MasterKeyError):
        list_cursor_key(PortfolioSettings(environment=Environment.PRODUCTION, var_dir=tmp_path))
