"""Many rows of a single-row INSERT in one statement (ADR 0089): which statements qualify, the
statement over arrays, the rows in rounds (pure); then on PostgreSQL, a batch sent that way
ends as it does row by row, and fails as it does."""

from collections.abc import Sequence

import asyncpg
import pytest

from bilet.projections import ReadModelTx, Table
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.projections.readmodel import layout_of
from bilet.projections.readmodel.multirow import (
    MultiRowShape,
    columns,
    multirow_shape,
    rounds,
    unnest_statement,
)

COUNTING = (
    "INSERT INTO counts (stream_id, events, last_type, last_version) VALUES ($1, 1, $2, $3) "
    "ON CONFLICT (stream_id) DO UPDATE SET events = counts.events + 1, "
    "last_type = excluded.last_type, last_version = excluded.last_version"
)
TEXT, INT8 = ("pg_catalog", "text"), ("pg_catalog", "int8")

# ------------------------------------------------------------------ which statements qualify


def test_a_counting_upsert_is_keyed_by_the_parameter_of_its_conflict_column() -> None:
    shape = multirow_shape(COUNTING)

    assert shape == MultiRowShape(
        table="counts",
        head="INSERT INTO counts (stream_id, events, last_type, last_version)",
        items=(0, "1", 1, 2),
        tail=COUNTING[COUNTING.index(" ON CONFLICT") :],
        parameters=3,
        key=(0,),
    )


def test_literals_stay_as_written_even_with_commas_and_parentheses_inside_quotes() -> None:
    shape = multirow_shape(
        "INSERT INTO t (a, b, c, d, e, f, g) VALUES ($1, 'x, (y)', NULL, TRUE, -2, 1.5, 'it''s') "
        "ON CONFLICT (a) DO NOTHING"
    )

    assert shape is not None
    assert shape.items == (0, "'x, (y)'", "NULL", "TRUE", "-2", "1.5", "'it''s'")


def test_a_composite_key_takes_its_parameters_in_the_conflict_target_order() -> None:
    shape = multirow_shape(
        "INSERT INTO h (participant_id, kind, source, position) VALUES ($1, 'x', $2, $3) "
        "ON CONFLICT (participant_id, kind, position) DO NOTHING"
    )

    assert shape is not None
    assert shape.key == (0, 2)  # the literal part of the key is the same for every row


def test_a_plain_insert_has_no_key() -> None:
    shape = multirow_shape("INSERT INTO s (a, b) VALUES ($1, $2)")

    assert shape is not None
    assert shape.key == ()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO t (a, b) SELECT a, $2 FROM u WHERE a = $1",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = $2",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE "
        "SET b = (SELECT max(b) FROM t)",
        "INSERT INTO t (a, b) VALUES ($1, $2) RETURNING a",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT ON CONSTRAINT t_pkey DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1, lower($2)) ON CONFLICT (a) DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1, $2::text) ON CONFLICT (a) DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1, $3) ON CONFLICT (a) DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1) ON CONFLICT (a) DO NOTHING",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (c) DO NOTHING",
        "INSERT INTO t (a, b) VALUES ('k', $1) ON CONFLICT (a) DO UPDATE SET b = excluded.b",
        "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)",
        "UPDATE t SET b = $2 WHERE a = $1",
        "DELETE FROM t WHERE a = $1",
        # A function's, a sequence's or a table's answer would depend on the rows' order.
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = nextval('s')",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE "
        "SET b = CASE WHEN 'x' IN (TABLE u) THEN 1 ELSE 2 END",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET b = excluded.b "
        "WHERE (t.b < excluded.b)",
        # A row moved to another key: rounds would not know it.
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET a = excluded.b",
        "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT (b, a) DO UPDATE SET b = 'x', A = 'y'",
    ],
)
def test_statements_that_may_read_or_touch_more_than_their_row_are_sent_row_by_row(
    statement: str,
) -> None:
    assert multirow_shape(statement) is None


# ------------------------------------------------------------------ the statement over arrays


def test_the_statement_over_arrays_selects_the_items_from_one_array_per_parameter() -> None:
    shape = multirow_shape(COUNTING)
    assert shape is not None

    statement = unnest_statement(shape, [TEXT, TEXT, INT8])

    select = (
        "SELECT bvb_rows.c1, 1, bvb_rows.c2, bvb_rows.c3 FROM unnest($1::pg_catalog.text[], "
        "$2::pg_catalog.text[], $3::pg_catalog.int8[]) AS bvb_rows(c1, c2, c3)"
    )
    head, tail = COUNTING.split(" VALUES ($1, 1, $2, $3)")
    assert statement == f"{head} {select}{tail}"


@pytest.mark.parametrize(
    "types",
    [
        [("pg_catalog", "float8"), TEXT, INT8],  # a key PostgreSQL may find equal where Python not
        [("pg_catalog", "uuid"), TEXT, INT8],  # equal as text and as a UUID in PostgreSQL only
        [("pg_catalog", "timestamptz"), TEXT, INT8],  # naive and aware times
        [("public", "citext"), TEXT, INT8],  # equal whatever the case
        [("", ""), TEXT, INT8],  # not a scalar: an array's array would be flattened
        [TEXT, ("pg_catalog", "Odd Type"), INT8],
        [TEXT, TEXT],
    ],
)
def test_types_that_cannot_be_an_arrays_elements_here_keep_the_statement_row_by_row(
    types: list[tuple[str, str]],
) -> None:
    shape = multirow_shape(COUNTING)
    assert shape is not None

    assert unnest_statement(shape, types) is None


# ------------------------------------------------------------------ rounds


def test_rows_of_one_key_go_to_successive_rounds_in_their_order() -> None:
    rows = [("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3), ("b", 2)]

    assert rounds(rows, (0,)) == [
        [("a", 1), ("b", 1), ("c", 1)],
        [("a", 2), ("b", 2)],
        [("a", 3)],
    ]


def test_a_composite_key_is_every_part_of_it() -> None:
    rows = [("p", "x", 1), ("p", "y", 1), ("p", "x", 2)]

    assert rounds(rows, (0, 1)) == [[("p", "x", 1), ("p", "y", 1)], [("p", "x", 2)]]


def test_without_a_key_every_row_is_in_one_round() -> None:
    rows = [("a", 1), ("a", 1)]

    assert rounds(rows, ()) == [rows]


def test_a_key_that_cannot_be_compared_here_gives_no_rounds() -> None:
    assert rounds([(["a"], 1)], (0,)) is None


def test_a_rounds_rows_become_one_array_per_parameter() -> None:
    assert columns([("a", 1), ("b", 2)], 2) == (["a", "b"], [1, 2])
    assert columns([], 2) == ([], [])


# ------------------------------------------------------------------ on PostgreSQL


class Trails:
    """Upserts whose end state depends on the order of a key's rows (a trail of every value),
    a keep-the-first insert, a plain insert, and literals of each portable type."""

    name = "trails"
    tables = (
        Table(
            "trails",
            "stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, trail TEXT NOT NULL, "
            "flag BOOLEAN, score DOUBLE PRECISION, note TEXT",
        ),
        Table("firsts", "stream_id TEXT PRIMARY KEY, value TEXT NOT NULL"),
        Table("plain", "value TEXT NOT NULL, weight BIGINT"),
    )
    TRAIL = (
        "INSERT INTO {trails} (stream_id, events, trail, flag, score, note) "
        "VALUES ($1, 1, $2, TRUE, 0.5, NULL) ON CONFLICT (stream_id) DO UPDATE "
        "SET events = {trails}.events + 1, trail = {trails}.trail || ',' || excluded.trail, "
        "flag = NOT {trails}.flag, score = {trails}.score + excluded.score, note = 'it''s, (x)'"
    )
    FIRST = (
        "INSERT INTO {firsts} (stream_id, value) VALUES ($1, $2) ON CONFLICT (stream_id) DO NOTHING"
    )
    PLAIN = "INSERT INTO {plain} (value, weight) VALUES ($1, $2)"

    async def apply(self, tx: ReadModelTx, event: object) -> None:  # pragma: no cover - unused
        raise NotImplementedError


ROWS = [(f"s{number % 7}", f"v{number}") for number in range(60)]


async def _write(
    read_model: PostgresReadModel, rows: Sequence[tuple[str, str | None]], *, regroup: bool = False
) -> None:
    """Each statement for every row (consecutive writes of one statement are held together),
    or, with `regroup`, the three for each row in turn, as a rebuild's long transaction
    regroups them (ADR 0068)."""
    layout = layout_of(Trails(), "postgresql")
    async with read_model.transaction(layout.renderer) as tx:
        tx.regroup_writes = regroup
        if regroup:
            for stream_id, value in rows:
                await tx.execute(Trails.TRAIL, stream_id, value)
                await tx.execute(Trails.FIRST, stream_id, value)
                await tx.execute(Trails.PLAIN, value, None if value is None else len(value))
            return
        for stream_id, value in rows:
            await tx.execute(Trails.TRAIL, stream_id, value)
        for stream_id, value in rows:
            await tx.execute(Trails.FIRST, stream_id, value)
        await tx.executemany(
            Trails.PLAIN, [(value, None if value is None else len(value)) for _, value in rows]
        )


async def _state(read_model: PostgresReadModel) -> list[list[tuple[object, ...]]]:
    async with read_model.query(Trails()) as tx:
        return [
            await tx.fetch("SELECT * FROM {trails} ORDER BY stream_id"),
            await tx.fetch("SELECT * FROM {firsts} ORDER BY stream_id"),
            await tx.fetch("SELECT value, weight FROM {plain} ORDER BY value"),
        ]


async def _opened(database_url: str, schema: str, *, multirow: bool) -> PostgresReadModel:
    read_model = await PostgresReadModel.open(database_url, schema=schema)
    read_model.multirow_writes = multirow
    await read_model.install(Trails())
    return read_model


@pytest.mark.integration
@pytest.mark.parametrize("regroup", [False, True], ids=["held", "regrouped"])
async def test_a_batch_sent_in_rounds_ends_as_it_does_row_by_row(
    database_url: str, postgres_schema: str, regroup: bool
) -> None:
    row_by_row = await _opened(database_url, f"{postgres_schema}_rows", multirow=False)
    in_rounds = await _opened(database_url, postgres_schema, multirow=True)
    try:
        for read_model in (row_by_row, in_rounds):
            await _write(read_model, ROWS, regroup=regroup)
            await _write(read_model, ROWS[:9], regroup=regroup)  # over the first batch's rows

        expected, got = await _state(row_by_row), await _state(in_rounds)
    finally:
        await row_by_row.close()
        await in_rounds.close()
        await drop_schema(database_url, f"{postgres_schema}_rows")

    assert got == expected
    trail = ",".join([f"v{number}" for number in range(0, 60, 7)] + ["v0", "v7"])
    assert got[0][0] == ("s0", 9 + 2, trail, True, 5.5, "it's, (x)")
    assert got[1][0] == ("s0", "v0")
    assert len(got[2]) == 69
    # It was sent in rounds: each statement found its form over arrays.
    forms = in_rounds._multirow._forms
    assert len(forms) == 3
    assert all(form is not None for form in forms.values())


@pytest.mark.integration
async def test_a_row_that_fails_fails_the_batch_at_flush_as_row_by_row(
    database_url: str, postgres_schema: str
) -> None:
    in_rounds = await _opened(database_url, postgres_schema, multirow=True)
    try:
        with pytest.raises(asyncpg.NotNullViolationError):
            await _write(in_rounds, [*ROWS[:20], ("s3", None), *ROWS[20:30]])

        state = await _state(in_rounds)
    finally:
        await in_rounds.close()

    assert state == [[], [], []]


class Uniques:
    """A table with a unique column besides its key: rounds would reorder the rows of different
    keys, and a unique value passed from one key to another in a batch would fail."""

    name = "uniques"
    tables = (Table("uniq", "k TEXT PRIMARY KEY, u TEXT UNIQUE"),)
    MOVE = "INSERT INTO {uniq} (k, u) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET u = excluded.u"

    async def apply(self, tx: ReadModelTx, event: object) -> None:  # pragma: no cover - unused
        raise NotImplementedError


@pytest.mark.integration
async def test_a_table_with_another_unique_index_is_written_row_by_row(
    database_url: str, postgres_schema: str
) -> None:
    read_model = await PostgresReadModel.open(database_url, schema=postgres_schema)
    try:
        await read_model.install(Uniques())
        layout = layout_of(Uniques(), "postgresql")
        # Row by row: k1 takes X, gives it up for Y, and k2 takes X. In rounds (k1→X, k2→X in
        # the first) the second would fail on `u`.
        rows = [("k1", "X"), ("k1", "Y"), ("k2", "X"), ("k3", "Q")]
        async with read_model.transaction(layout.renderer) as tx:
            for row in rows:
                await tx.execute(Uniques.MOVE, *row)
        async with read_model.query(Uniques()) as tx:
            state = await tx.fetch("SELECT k, u FROM {uniq} ORDER BY k")
        forms = read_model._multirow._forms
    finally:
        await read_model.close()

    assert state == [("k1", "Y"), ("k2", "X"), ("k3", "Q")]
    assert list(forms.values()) == [None]


@pytest.mark.integration
async def test_a_row_with_a_wrong_count_of_arguments_fails_as_row_by_row(
    database_url: str, postgres_schema: str
) -> None:
    errors = []
    for multirow in (False, True):
        read_model = await _opened(
            database_url, f"{postgres_schema}_{int(multirow)}", multirow=multirow
        )
        try:
            with pytest.raises(Exception) as raised:  # noqa: PT011 - compared below
                await _write(read_model, [*ROWS[:20], ("s3", "x", "extra"), *ROWS[20:30]])  # type: ignore[list-item]
            errors.append(type(raised.value))
            assert await _state(read_model) == [[], [], []]
        finally:
            await read_model.close()
            await drop_schema(database_url, f"{postgres_schema}_{int(multirow)}")
    assert errors[0] is errors[1]
