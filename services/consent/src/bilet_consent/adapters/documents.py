"""Where signed documents are kept (`application.documents.DocumentStore`): files under `var/`
(embedded) or a table in the service's PostgreSQL schema (production). Both hold only the
ciphertext of the rebuilt copy, the nonce, the key id, the plaintext's checksum and the
original upload's checksum and size (evidence); deleting a participant removes all of theirs.
(An S3-compatible object store is the natural third adapter; none is built yet.)
"""

import asyncio
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import asyncpg

from bilet.pgschema import check_schema_name, migrate_or_verify
from bilet_consent.application.documents import Original, StoredDocument

_SUFFIX: Final = ".doc"


class DiskDocumentStore:
    """One directory per participant, one file per document: a small JSON header line, then the
    ciphertext. Written to a temporary name, synced and renamed, so a crash leaves no half file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, participant_id: UUID) -> Path:
        return self.root / str(participant_id)

    def _path(self, participant_id: UUID, document_id: UUID) -> Path:
        return self._dir(participant_id) / f"{document_id}{_SUFFIX}"

    async def put(self, document: StoredDocument) -> None:
        await asyncio.to_thread(self._put, document)

    def _put(self, document: StoredDocument) -> None:
        directory = self._dir(document.participant_id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        header: dict[str, object] = {
            "media_type": document.media_type,
            "key_id": document.key_id,
            "nonce": document.nonce.hex(),
            "sha256": document.sha256,
        }
        if document.original is not None:
            header["original_sha256"] = document.original.sha256
            header["original_size"] = document.original.size
        target = self._path(document.participant_id, document.document_id)
        temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(json.dumps(header).encode() + b"\n")
                file.write(document.ciphertext)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    async def get(self, participant_id: UUID, document_id: UUID) -> StoredDocument | None:
        return await asyncio.to_thread(self._get, participant_id, document_id)

    def _get(self, participant_id: UUID, document_id: UUID) -> StoredDocument | None:
        try:
            raw = self._path(participant_id, document_id).read_bytes()
        except FileNotFoundError:
            return None
        line, _, ciphertext = raw.partition(b"\n")
        header: dict[str, Any] = json.loads(line)
        original = None
        if "original_sha256" in header:  # documents stored before content disarm have none
            original = Original(header["original_sha256"], header["original_size"])
        return StoredDocument(
            participant_id,
            document_id,
            header["media_type"],
            header["key_id"],
            bytes.fromhex(header["nonce"]),
            ciphertext,
            header["sha256"],
            original,
        )

    async def delete(self, participant_id: UUID, document_id: UUID) -> bool:
        path = self._path(participant_id, document_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    async def delete_participant(self, participant_id: UUID) -> int:
        def remove() -> int:
            # Renamed away first (atomic): of two concurrent deletions exactly one gets it.
            doomed = self.root / f".deleted-{participant_id}-{secrets.token_hex(6)}"
            try:
                os.rename(self._dir(participant_id), doomed)
            except FileNotFoundError:
                return 0
            count = sum(1 for p in doomed.iterdir() if p.suffix == _SUFFIX)
            shutil.rmtree(doomed)
            return count

        return await asyncio.to_thread(remove)

    async def count(self, participant_id: UUID) -> int:
        directory = self._dir(participant_id)
        if not directory.exists():
            return 0
        return sum(1 for p in directory.iterdir() if p.suffix == _SUFFIX)

    async def ping(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True, mode=0o700)

    async def close(self) -> None:
        return None


# One row per document; the upload's evidence columns (ADR 0015) are empty for documents stored
# before it. Made as the store opens, or by `bvb migrate` (BVB_SCHEMA=verify, ADR 0057).
_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.documents (
    participant_id UUID NOT NULL, document_id UUID PRIMARY KEY,
    media_type TEXT NOT NULL, key_id TEXT NOT NULL, nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL, sha256 TEXT NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now());
ALTER TABLE {s}.documents
    ADD COLUMN IF NOT EXISTS original_sha256 TEXT,
    ADD COLUMN IF NOT EXISTS original_size BIGINT;
CREATE INDEX IF NOT EXISTS documents_participant ON {s}.documents (participant_id);
"""


class PostgresDocumentStore:
    """A `documents` table in the service's schema. One row per document: bytea holds up to
    1 GB and documents are at most `BVB_CONSENT_MAX_DOCUMENT_BYTES` (10 MiB), so no chunking."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._table = f"{check_schema_name(schema)}.documents"

    @classmethod
    async def open(cls, dsn: str, schema: str) -> "PostgresDocumentStore":
        check_schema_name(schema)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        try:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.documents"
                )
                await migrate_or_verify(connection, _SCHEMA_SQL.format(s=schema))
        except BaseException:
            await pool.close()
            raise
        return cls(pool, schema)

    async def put(self, document: StoredDocument) -> None:
        await self._pool.execute(
            f"INSERT INTO {self._table} "  # noqa: S608 - a checked schema name
            "(participant_id, document_id, media_type, key_id, nonce, ciphertext, sha256, "
            "original_sha256, original_size) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (document_id) DO UPDATE SET "
            "media_type = excluded.media_type, key_id = excluded.key_id, "
            "nonce = excluded.nonce, ciphertext = excluded.ciphertext, sha256 = excluded.sha256, "
            "original_sha256 = excluded.original_sha256, "
            "original_size = excluded.original_size",
            document.participant_id,
            document.document_id,
            document.media_type,
            document.key_id,
            document.nonce,
            document.ciphertext,
            document.sha256,
            None if document.original is None else document.original.sha256,
            None if document.original is None else document.original.size,
        )

    async def get(self, participant_id: UUID, document_id: UUID) -> StoredDocument | None:
        row = await self._pool.fetchrow(
            "SELECT media_type, key_id, nonce, ciphertext, sha256, original_sha256, "  # noqa: S608 - a checked schema name
            f"original_size FROM {self._table} WHERE participant_id = $1 AND document_id = $2",
            participant_id,
            document_id,
        )
        if row is None:
            return None
        return StoredDocument(
            participant_id,
            document_id,
            row["media_type"],
            row["key_id"],
            bytes(row["nonce"]),
            bytes(row["ciphertext"]),
            row["sha256"],
            None
            if row["original_sha256"] is None
            else Original(row["original_sha256"], row["original_size"]),
        )

    async def delete(self, participant_id: UUID, document_id: UUID) -> bool:
        status: str = await self._pool.execute(
            f"DELETE FROM {self._table} WHERE participant_id = $1 AND document_id = $2",  # noqa: S608 - a checked schema name
            participant_id,
            document_id,
        )
        return status != "DELETE 0"

    async def delete_participant(self, participant_id: UUID) -> int:
        status: str = await self._pool.execute(
            f"DELETE FROM {self._table} WHERE participant_id = $1",  # noqa: S608 - checked name
            participant_id,
        )
        return int(status.split()[-1])

    async def count(self, participant_id: UUID) -> int:
        value = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._table} WHERE participant_id = $1",  # noqa: S608
            participant_id,
        )
        return int(value)

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
