"""After `erase(subject)` returns, every `FieldCipher` on the same key store stops opening that
subject's fields within the bound, however recently it cached the key: at once in the same process
(the services of an embedded run, each with its own store object over one file; bound 1 s), and
within 5 s when the erasure is made by another process (the distributed suite).

Each test warms a cipher's cache, erases, then polls the cipher up to the bound and fails after
it: the bound is the contract, not a measurement.
"""

import asyncio
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, cast

from bilet.crypto import ERASED, FieldCipher, InMemoryKeyStore, KeyStore, MasterKey

if TYPE_CHECKING:
    from shared.tests.crypto.conftest import Backend, PostgresBackend, SqliteBackend

EMBEDDED_BOUND = 1.0
DISTRIBUTED_BOUND = 5.0
SUBJECT = "participant-41"
OTHER = "participant-42"
RECORD = {"last_name": "Сидорова", "snils": "112-233-445 95", "grade": 7}
PERSONAL = ("last_name", "snils")


async def _sealed(cipher: FieldCipher, subject: str) -> dict[str, object]:
    return await cipher.encrypt(subject, RECORD, PERSONAL)


async def _erased_within(cipher: FieldCipher, sealed: dict[str, object], bound: float) -> bool:
    """Whether the cipher reads the fields as erased before `bound` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while True:
        opened = await cipher.decrypt(SUBJECT, sealed)
        if opened["last_name"] is ERASED and opened["snils"] is ERASED:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)


def _erase_in_another_process(backend: "Backend", subject: str) -> None:
    """Erase through a key store opened by a separate Python process, as the consent service's
    destruction job does in the distributed suite (the erasure needs no master key)."""
    if backend.name == "sqlite":
        path = str(cast("SqliteBackend", backend).path)
        opening = f"SqliteKeyStore(Path({path!r}), MasterKey.generate())"
    else:
        postgres = cast("PostgresBackend", backend)
        opening = (
            f"await PostgresKeyStore.open({postgres.database_url!r}, MasterKey.generate(), "
            f"schema={postgres.schema!r})"
        )
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from bilet.crypto import MasterKey, SqliteKeyStore
        from bilet.crypto.postgres import PostgresKeyStore

        async def main() -> None:
            store = {opening}
            try:
                assert await store.erase({subject!r})
            finally:
                await store.close()

        asyncio.run(main())
        """
    )
    subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-c", script], check=True, timeout=60, env=dict(os.environ)
    )


async def test_given_two_ciphers_on_one_in_memory_store_when_one_erases_the_other_stops() -> None:
    store = InMemoryKeyStore()
    eraser, reader = FieldCipher(store), FieldCipher(store)
    sealed = await _sealed(eraser, SUBJECT)
    assert (await reader.decrypt(SUBJECT, sealed))["snils"] == RECORD["snils"]

    assert await eraser.erase(SUBJECT) is True

    assert await _erased_within(reader, sealed, EMBEDDED_BOUND)


async def test_given_services_in_one_process_when_one_erases_then_every_cipher_stops_within_1_s(
    backend: "Backend",
) -> None:
    master_key = MasterKey.generate()
    # Each service of an embedded run opens its own store over the same file (or schema).
    stores: list[KeyStore] = [await backend.open(master_key) for _ in range(3)]
    identity, consent, portfolio = (FieldCipher(store) for store in stores)
    sealed = await _sealed(identity, SUBJECT)
    other = await _sealed(identity, OTHER)
    for cipher in (identity, consent, portfolio):
        assert (await cipher.decrypt(SUBJECT, sealed))["last_name"] == RECORD["last_name"]

    # The destruction job erases through the store, not through any of these ciphers.
    assert await stores[1].erase(SUBJECT) is True

    for cipher in (identity, consent, portfolio):
        assert await _erased_within(cipher, sealed, EMBEDDED_BOUND)
    # Only that subject: another pupil's fields still open.
    assert (await portfolio.decrypt(OTHER, other))["snils"] == RECORD["snils"]


async def test_given_a_cipher_in_another_process_when_erased_then_it_stops_within_5_s(
    backend: "Backend",
) -> None:
    master_key = MasterKey.generate()
    writer_store = await backend.open(master_key)
    reader = FieldCipher(await backend.open(master_key))
    sealed = await _sealed(FieldCipher(writer_store), SUBJECT)
    assert (await reader.decrypt(SUBJECT, sealed))["snils"] == RECORD["snils"]

    await asyncio.to_thread(_erase_in_another_process, backend, SUBJECT)

    assert await _erased_within(reader, sealed, DISTRIBUTED_BOUND)
