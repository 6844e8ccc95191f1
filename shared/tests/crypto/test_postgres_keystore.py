"""What only the PostgreSQL key store promises, beside the contract (test_keystore_contract.py):
its schema is checked and migrated once under concurrency, creation waits for an erasure in flight,
erased keys leave the table files even when the rewrite has to wait, the wrapped keys stay out of
the planner's statistics, and the rewrite of one partition does not hold up reads of the others.
"""

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from bilet.crypto import DataKey, KeyStore, MasterKey, SubjectErased
from bilet.crypto.postgres import PARTITIONS, PostgresKeyStore

if TYPE_CHECKING:
    from shared.tests.crypto.conftest import PostgresBackend

pytestmark = pytest.mark.integration

# Long enough for a slow, shared server; only ever reached when a test fails.
BOUND = 30.0


def _holds(files: list[bytes], needle: bytes) -> bool:
    return any(needle in content for content in files)


def _postgres(store: KeyStore) -> PostgresKeyStore:
    assert isinstance(store, PostgresKeyStore)
    return store


async def test_given_a_schema_name_that_is_not_an_identifier_when_opened_then_it_is_refused(
    database_url: str,
) -> None:
    for schema in ("bvb-keys", "keys; DROP SCHEMA bvb_keys", "Keys", ""):
        with pytest.raises(ValueError, match="schema name"):
            await PostgresKeyStore.open(database_url, MasterKey.generate(), schema=schema)
    with pytest.raises(ValueError, match="purge_wait"):
        await PostgresKeyStore.open(database_url, MasterKey.generate(), purge_wait=-1)


async def test_given_a_new_schema_when_many_processes_open_it_at_once_then_all_share_it(
    postgres_backend: "PostgresBackend",
) -> None:
    master_key = MasterKey.generate()

    stores = await asyncio.gather(*(postgres_backend.open(master_key) for _ in range(6)))
    keys = await asyncio.gather(*(store.get_or_create("participant-1") for store in stores))

    assert len({key.key_id for key in keys}) == 1
    connection = await asyncpg.connect(postgres_backend.database_url)
    try:
        partitions = await connection.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass",
            f"{postgres_backend.schema}.data_keys",
        )
    finally:
        await connection.close()
    assert partitions == PARTITIONS


async def test_given_an_erasure_in_flight_when_a_key_is_asked_for_then_it_waits_and_is_refused(
    postgres_backend: "PostgresBackend",
) -> None:
    store = await postgres_backend.open(MasterKey.generate())
    schema = postgres_backend.schema
    eraser = await asyncpg.connect(postgres_backend.database_url)
    try:
        # Another process's erasure, between writing its tombstone and committing.
        transaction = eraser.transaction()
        await transaction.start()
        await eraser.execute(
            f"INSERT INTO {schema}.erasures (subject, erased_at) VALUES ($1, now())",  # noqa: S608
            "participant-1",
        )
        asking = asyncio.create_task(store.get_or_create("participant-1"))
        waiting = False
        while not waiting and not asking.done():
            waiting = await eraser.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted "
                "AND relation = $1::regclass)",
                f"{schema}.erasures",
            )
        assert waiting, f"the creator did not wait for the erasure: {asking.result()}"
        await transaction.commit()

        with pytest.raises(SubjectErased):
            await asyncio.wait_for(asking, BOUND)
        assert await store.get("participant-1") is None
    finally:
        await eraser.close()


async def test_given_an_older_snapshot_when_erasing_then_the_rewrite_waits_for_it_to_end(
    postgres_backend: "PostgresBackend",
) -> None:
    store = _postgres(await postgres_backend.open(MasterKey.generate(), purge_wait=0.2))
    keys = await store.get_or_create_many([f"participant-{n}" for n in range(40)])
    wrapped = await postgres_backend.wrapped("participant-7")
    reader = await asyncpg.connect(postgres_backend.database_url)
    try:
        # A transaction whose snapshot predates the erasure could still read the row, so
        # PostgreSQL keeps it, even through a rewrite. (It reads no key table: no lock of its
        # own stands in the rewrite's way, only its snapshot.)
        snapshot = reader.transaction(isolation="repeatable_read")
        await snapshot.start()
        await reader.fetchval("SELECT 1")

        assert await store.erase("participant-7") is True

        assert await store.get("participant-7") is None
        with pytest.raises(SubjectErased):
            await store.get_or_create("participant-7")
        assert store.pending_purges == 1
        assert _holds(await postgres_backend.files(), wrapped)  # the caveat of ADR 0004
        await snapshot.rollback()
    finally:
        await reader.close()

    assert await store.purge() == 0
    files = await postgres_backend.files()
    assert not _holds(files, wrapped)
    assert not _holds(files, keys["participant-7"].key)
    assert await store.get("participant-8") == keys["participant-8"]


async def test_given_a_busy_partition_when_erasing_then_close_finishes_the_rewrite(
    postgres_backend: "PostgresBackend",
) -> None:
    store = _postgres(await postgres_backend.open(MasterKey.generate(), purge_wait=0.2))
    await store.get_or_create_many([f"participant-{n}" for n in range(40)])
    partition = await postgres_backend.partition_of("participant-3")
    wrapped = await postgres_backend.wrapped("participant-3")
    holder = await asyncpg.connect(postgres_backend.database_url)
    try:
        # A reader inside a long transaction keeps its lock on the partition (but no snapshot).
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(f"LOCK TABLE {partition} IN ACCESS SHARE MODE")

        assert await store.erase("participant-3") is True

        assert store.pending_purges == 1
        assert _holds(await postgres_backend.files(), wrapped)
        await transaction.commit()
    finally:
        await holder.close()

    await store.close()
    assert not _holds(await postgres_backend.files(), wrapped)


async def test_given_analyze_when_statistics_are_kept_then_no_wrapped_key_is_among_them(
    postgres_backend: "PostgresBackend",
) -> None:
    store = await postgres_backend.open(MasterKey.generate())
    await store.get_or_create_many([f"participant-{n}" for n in range(400)])
    connection = await asyncpg.connect(postgres_backend.database_url)
    try:
        await connection.execute(f"ANALYZE {postgres_backend.schema}.data_keys")
        columns = {
            row[0]
            for row in await connection.fetch(
                "SELECT DISTINCT attname FROM pg_stats WHERE schemaname = $1",
                postgres_backend.schema,
            )
        }
    finally:
        await connection.close()

    assert "subject" in columns  # control: ANALYZE did keep statistics
    assert "wrapped" not in columns


async def test_given_one_partition_being_rewritten_when_others_are_used_then_they_answer(
    postgres_backend: "PostgresBackend",
) -> None:
    store = await postgres_backend.open(MasterKey.generate())
    keys = await store.get_or_create_many([f"participant-{n}" for n in range(64)])
    partitions = {s: await postgres_backend.partition_of(s) for s in keys}
    busy = partitions["participant-0"]
    elsewhere = [s for s, p in partitions.items() if p != busy][:3]
    connection = await asyncpg.connect(postgres_backend.database_url)
    try:
        new_subject = await connection.fetchval(
            "SELECT s FROM unnest($4::text[]) AS s "
            "WHERE NOT satisfies_hash_partition($1::regclass, $2, $3, s) LIMIT 1",
            f"{postgres_backend.schema}.data_keys",
            PARTITIONS,
            int(busy[-2:]),
            [f"participant-new-{n}" for n in range(100)],
        )
        # What VACUUM FULL holds while it rewrites the partition.
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"LOCK TABLE {busy} IN ACCESS EXCLUSIVE MODE")

        # Past the five executions after which PostgreSQL may switch to a generic plan.
        for _ in range(8):
            for subject in elsewhere:
                assert await asyncio.wait_for(store.get(subject), BOUND) == keys[subject]
                assert await asyncio.wait_for(store.get_or_create(subject), BOUND) == keys[subject]
        created = await asyncio.wait_for(store.get_or_create(new_subject), BOUND)
        assert isinstance(created, DataKey)
        await transaction.rollback()
    finally:
        await connection.close()
    assert await store.get("participant-0") == keys["participant-0"]


async def test_given_a_schema_from_before_the_erasure_log_when_opened_then_erasures_are_listed(
    postgres_backend: "PostgresBackend",
) -> None:
    master_key = MasterKey.generate()
    old = await postgres_backend.open(master_key)
    await old.erase("participant-1")
    connection = await asyncpg.connect(postgres_backend.database_url)
    try:  # the schema as it was before erasures had a position
        await connection.execute(f"ALTER TABLE {postgres_backend.schema}.erasures DROP COLUMN seq")
    finally:
        await connection.close()

    store = await postgres_backend.open(master_key)
    start = await store.erasures_since(None)
    await store.erase("participant-2")

    assert start.position >= 1  # the old record got a position too
    assert (await store.erasures_since(start.position)).subjects == ("participant-2",)
    with pytest.raises(SubjectErased):
        await store.get_or_create("participant-1")
