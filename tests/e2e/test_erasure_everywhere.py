"""Withdrawal → destruction, end to end across the suite (issue #6, "Proof").

A pupil registered by identity, whose guardian's signed consent (a real PDF) went through consent
and whose name the portfolio showed to the school's navigator, is erased: the guardian withdraws,
the clock moves past `erase_by`, the consent service's own destruction job runs, the portfolio
applies `ParticipantErased`. Afterwards the pupil's name and СНИЛС, the guardian's name, passport
and contact, the document's bytes (and its checksum) and the pupil's data key are found nowhere:

- store files: every file under the temporary `var/` (SQLite databases with their -wal/-shm, the
  suite's key store, the document store), while the services run and after they stopped;
- Kafka: identity's and consent's stores published by real relays (`bilet.relay`, with the
  catalogue's filter, to topics of this test) — the records read back (key, value, headers) and
  the broker's log segment files of those topics (read only);
- read models: the consent facts and the portfolio (their SQLite files), a portfolio rebuilt from
  the stores into a fresh SQLite file, and the portfolio and consent facts rebuilt from the topics
  into PostgreSQL (every row of every table of their schemas dumped);
- logs: every record logged in this process (DEBUG and up), this process's stdout/stderr, and what
  the broker and PostgreSQL wrote to their server logs meanwhile.

…while the rest of the history replays: every event of every store and every record of the topics
decodes (contracts codec, CloudEvents), the erased pupil's sealed fields read as erased while their
ciphertext is still on the topic, the other pupil's still decrypt, and a portfolio rebuilt from
scratch shows the pupil as erased with no name.

The scan is strict (each secret in many encodings) and is shown to find what it looks for: on a
synthetic corpus (first test), on control secrets planted in each kind of place (a SQLite file, a
Kafka topic and its segment files, a PostgreSQL table, the logs), and on the real secrets where the
system legitimately shows them (the API answers to entitled roles), so it cannot pass vacuously.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import sys
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from fastapi import FastAPI

from bilet import stores
from bilet.audit import AUDIT_CATEGORY, AUDIT_EVENT_TYPE, AuditRecord
from bilet.contracts import CATALOGUE, DomainEvent, decode, sealed_fields, unseal
from bilet.contracts.catalogue.consent import ParticipantErased
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.cloudevents import from_record, source_of
from bilet.contracts.sealed import ErasedValue, SealedValue
from bilet.crypto import FieldCipher, is_erased
from bilet.eventstore import EventStore, RecordedEvent, category_of
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.projections import Projection, ReadModel, rebuild_from_kafka, rebuild_from_stores
from bilet.projections.kafka import dlq_topic
from bilet.projections.postgres import PostgresReadModel
from bilet.projections.sqlite import SqliteReadModel
from bilet.relay import KafkaConnector, KafkaOptions, Relay, RelayOptions
from bilet.relay.app import open_store
from bilet.relay.audit import PublishedEvent, audit, read_store, topic_partitions
from bilet.relay.settings import StoreLocation
from bilet_consent.app import JOB_ACTOR
from bilet_consent.app import create_app as create_consent_app
from bilet_consent.application.eventlog import decode_event as decode_consent_event
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import Clock, consent_form
from bilet_identity.adapters.pseudonym_key import load_pseudonym_key
from bilet_identity.app import create_app as create_identity_app
from bilet_identity.application.eventlog import decode_event as decode_identity_event
from bilet_identity.domain.snils import generate as generate_snils
from bilet_identity.settings import IdentitySettings
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.app import create_app as create_portfolio_app
from bilet_portfolio.settings import SOURCES, PortfolioSettings

REPO = Path(__file__).resolve().parents[2]
# Where scripts/infra/infra.sh keeps the broker's state: its server.properties names log.dirs.
KAFKA_DIR = REPO / "var" / "kafka"
KAFKA_PROPERTIES = KAFKA_DIR / "server.properties"
PARTITIONS = 3
SEASON = 2019
# The consent service's clock (and the portfolio's day) in this test: within the 2019 season.
START = datetime(2019, 9, 20, 10, 0, tzinfo=UTC)
WAIT = 20.0  # the most any one wait for an asynchronous effect may take before the test fails

STAGES = ["interests", "soft_skills", "professions_knowledge"]
PUBLISHERS = ("identity", "consent")  # the services whose stores this scenario fills


# ====================================================================== secrets and their forms


# Open syllables: consonant and vowel, 140 of them.
_SYLLABLES = tuple(c + v for c in "бвгджзклмнпрстфхцчшщ" for v in "аоуеиюя")


def _word(rng: random.Random, syllables: int, ending: str) -> str:
    return ("".join(rng.choice(_SYLLABLES) for _ in range(syllables)) + ending).capitalize()


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    patronymic: str

    @classmethod
    def invent(cls, rng: random.Random, *, female: bool = True) -> Person:
        """A ФИО nobody else's data holds: four random syllables per part."""
        return cls(
            _word(rng, 4, "ова" if female else "ов"),
            _word(rng, 4, "ана" if female else "ан"),
            _word(rng, 3, "овна" if female else "ович"),
        )

    @property
    def parts(self) -> tuple[str, str, str]:
        return (self.last_name, self.first_name, self.patronymic)


@dataclass(frozen=True)
class Secrets:
    """One pupil's personal data, as this scenario gives it to the suite."""

    tag: str
    pupil: Person
    snils: str  # eleven digits
    guardian: Person
    passport_series: str  # four digits
    passport_number: str  # six digits
    passport_issued_by: str
    phone: str  # +7 and ten digits
    email: str
    marker: str  # printed in the signed document

    @classmethod
    def invent(cls, tag: str, rng: random.Random) -> Secrets:
        pupil = Person.invent(rng)
        guardian = Person.invent(rng)
        district = _word(rng, 3, "ский")
        return cls(
            tag=tag,
            pupil=pupil,
            snils=generate_snils(rng).digits,
            guardian=guardian,
            passport_series=f"{rng.randint(10, 99)}{rng.randint(10, 99)}",
            passport_number=f"{rng.randint(100_000, 999_999)}",
            passport_issued_by=f"ТП № {rng.randint(2, 99)} ОУФМС России в {district} р-не",
            phone=f"+79{rng.randint(0, 999_999_999):09d}",
            email=f"{_word(rng, 3, '').lower()}.{rng.randint(1000, 9999)}@пример.рф",
            marker=f"BVB-ERASURE-{tag}-{rng.getrandbits(64):016x}",
        )

    @property
    def snils_formatted(self) -> str:
        d = self.snils
        return f"{d[0:3]}-{d[3:6]}-{d[6:9]} {d[9:11]}"

    @property
    def document(self) -> bytes:
        """The signed consent form: a real one-page PDF that names the child and the signer."""
        return small_pdf(
            self.marker,
            comment=(
                f"Согласие законного представителя: {' '.join(self.guardian.parts)}, "
                f"паспорт {self.passport_series} {self.passport_number}, тел. {self.phone}, "
                f"{self.email}; "
                f"ребёнок {' '.join(self.pupil.parts)}, СНИЛС {self.snils_formatted}"
            ),
        )

    def registration(self, school_id: str) -> dict[str, Any]:
        return {
            "school_id": school_id,
            "season": SEASON,
            "last_name": self.pupil.last_name,
            "first_name": self.pupil.first_name,
            "middle_name": self.pupil.patronymic,
            "birth_date": "2007-04-12",
            "snils": self.snils_formatted,
            "grade": 7,
            "health_limitations": {"has_limitations": False},
        }

    def consent_form(self, participant_id: str) -> dict[str, Any]:
        form = consent_form(uuid.UUID(participant_id))
        form["guardian"] = {
            "last_name": self.guardian.last_name,
            "first_name": self.guardian.first_name,
            "patronymic": self.guardian.patronymic,
            "relationship": "parent",
            "passport": {
                "series": f"{self.passport_series[:2]} {self.passport_series[2:]}",
                "number": self.passport_number,
                "issued_by": self.passport_issued_by,
                "issued_on": "2010-03-15",
            },
            "phone": self.phone,
            "email": self.email,
        }
        return form

    def needles(self) -> list[Needle]:
        """Every form each secret could be stored in."""
        found: list[Needle] = []

        def add(what: str, texts: Iterable[str]) -> None:
            for text in texts:
                for form, data in text_forms(text):
                    found.append(Needle(f"{self.tag} {what}", f"{text!r} as {form}", data))

        add("pupil's name", self.pupil.parts)
        d, s = self.snils, self.snils_formatted
        add("СНИЛС", {d, s, s.replace(" ", "-"), s.replace("-", " "), s.replace(" ", "")})
        add("guardian's name", self.guardian.parts)
        series, number = self.passport_series, self.passport_number
        spaced = f"{series[:2]} {series[2:]}"
        add(
            "guardian's passport",
            {
                f"{series}{number}",
                f"{series} {number}",
                f"{spaced} {number}",
                f"{series} № {number}",
                f"{spaced} № {number}",
                f"{series}№{number}",
                # The number alone only where it stands as a value: a bare six-digit needle
                # would match microseconds of timestamps.
                f'"{number}"',
                f"'{number}'",
                f'"number":"{number}"',
                f'"number": "{number}"',
                self.passport_issued_by,
            },
        )
        add("guardian's contact", {self.phone, self.phone[1:], self.phone[2:], self.email})
        add("document", {self.marker})
        document = self.document
        digest = hashlib.sha256(document).digest()
        marker = self.marker.encode()
        raw_forms: list[tuple[str, bytes]] = [
            ("marker as hex", marker.hex().encode()),
            ("marker as HEX", marker.hex().upper().encode()),
            ("sha256 hex", digest.hex().encode()),
            ("sha256 HEX", digest.hex().upper().encode()),
            ("sha256 base64", base64.b64encode(digest)[:40]),
            ("sha256 raw", digest),
        ]
        # The marker inside base64 of the document (or of anything else), at each alignment.
        for shift in range(3):
            chunk = marker[shift:]
            chunk = chunk[: len(chunk) // 3 * 3]
            raw_forms.append((f"marker base64 +{shift}", base64.b64encode(chunk)))
            raw_forms.append((f"marker base64url +{shift}", base64.urlsafe_b64encode(chunk)))
        found.extend(Needle(f"{self.tag} document", form, data) for form, data in raw_forms)
        return found


@dataclass(frozen=True)
class Needle:
    secret: str  # which secret, e.g. "erased pupil's name"
    form: str  # which value in which encoding
    data: bytes

    def __str__(self) -> str:
        return f"{self.secret}: {self.form}"


def _json_escaped(text: str, upper: bool) -> str:
    escaped = json.dumps(text)[1:-1]
    if upper:
        escaped = re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), escaped)
    return escaped


def _bytes_repr(text: str) -> str:
    """How `repr(bytes)` shows a UTF-8 text: non-ASCII bytes as `\\xd0`."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in text.encode())


def text_forms(text: str) -> Iterator[tuple[str, bytes]]:
    """A text as it may be stored: UTF-8, UTF-16, cp1251, JSON `\\u` escapes (either case),
    Python's bytes repr, percent-encoding; each in its own case, upper and lower case."""
    seen: set[bytes] = set()
    for variant in dict.fromkeys((text, text.upper(), text.lower())):
        forms = [
            ("utf-8", variant.encode()),
            ("utf-16-le", variant.encode("utf-16-le")),
            ("utf-16-be", variant.encode("utf-16-be")),
            ("json \\u", _json_escaped(variant, upper=False).encode()),
            ("json \\U", _json_escaped(variant, upper=True).encode()),
            ("bytes repr", _bytes_repr(variant).encode()),
            ("percent", urllib.parse.quote(variant).encode()),
            ("percent lower", urllib.parse.quote(variant).lower().encode()),
            ("percent plus", urllib.parse.quote_plus(variant).encode()),
        ]
        with contextlib.suppress(UnicodeEncodeError):
            forms.append(("cp1251", variant.encode("cp1251")))
        for form, data in forms:
            if data not in seen:
                seen.add(data)
                yield form, data


class Scan:
    """Looks for every needle in whatever it is given; keeps what it found, and where."""

    def __init__(self, needles: Iterable[Needle]) -> None:
        self.needles = list(needles)
        self.hits: list[tuple[str, Needle]] = []

    def blob(self, where: str, data: bytes) -> list[Needle]:
        hits = [needle for needle in self.needles if needle.data in data]
        self.hits.extend((where, needle) for needle in hits)
        return hits

    def files(self, root: Path) -> int:
        """Every file under `root`. Zeros at a file's end (the broker preallocates its index
        files, 10 MiB each) are left out but two, so a UTF-16 needle at the very end still
        matches."""
        count = 0
        for path in sorted(root.rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                self.blob(str(path), data[: len(data.rstrip(b"\0")) + 2])
                count += 1
        return count

    @property
    def found(self) -> list[str]:
        return [f"{where}: {needle}" for where, needle in self.hits]

    def secrets_found(self) -> set[str]:
        return {needle.secret for _, needle in self.hits}


def small_pdf(marker: str, comment: str) -> bytes:
    """A valid one-page PDF (objects, cross-reference table, trailer) showing `marker`, with a
    comment line of UTF-8 text as a scanned form would carry the names it shows."""
    content = f"BT /F1 14 Tf 56 780 Td ({marker}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n% " + comment.encode() + b"\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ====================================================================== places to look


# The broker's own answer (`discover_log_dirs`), when it has been asked.
_BROKER_LOG_DIRS: list[Path] = []


async def discover_log_dirs(bootstrap: str) -> None:
    """Ask the broker where its log segments are (`log.dirs`): it may be this checkout's
    (scripts/infra/infra.sh) or another one on this machine that BVB_KAFKA_BOOTSTRAP names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        resources = [
            ConfigResource(ConfigResourceType.BROKER, str(broker["node_id"]))
            for broker in cluster["brokers"]
        ]
        answers = await admin.describe_configs(resources)
    finally:
        await admin.close()
    found: list[Path] = []
    for answer in answers:
        for resource in answer.resources:
            for entry in resource[4]:
                if entry[0] == "log.dirs" and entry[1]:
                    found.extend(Path(p) for p in str(entry[1]).split(",") if p)
    _BROKER_LOG_DIRS[:] = found


def kafka_log_dirs() -> list[Path]:
    """The broker's `log.dirs`: as it answered, else as scripts/infra/infra.sh configured it."""
    if _BROKER_LOG_DIRS:
        return list(_BROKER_LOG_DIRS)
    if KAFKA_PROPERTIES.exists():
        for line in KAFKA_PROPERTIES.read_text(encoding="utf-8").splitlines():
            if line.startswith("log.dirs="):
                return [Path(p) for p in line.removeprefix("log.dirs=").split(",") if p]
    return [KAFKA_DIR / "data"]


def partition_dirs(topic: str) -> list[Path]:
    """The broker's directories of a topic's partitions (`<topic>-<n>`)."""
    return sorted(
        path
        for root in kafka_log_dirs()
        if root.is_dir()
        for path in root.iterdir()
        if path.is_dir() and path.name.rpartition("-")[0] == topic
    )


def server_log_files() -> list[Path]:
    """What the local broker and PostgreSQL servers (scripts/infra/infra.sh) write their logs
    to: the first server's and those of parallel test workers (`var/postgres-wN`, ADR 0064)."""
    pg_state = REPO / "var" / "postgres"
    location = REPO / "var" / "postgres.location"
    if location.exists():
        pg_state = Path(location.read_text(encoding="utf-8").strip())
    pg_states = [pg_state, *sorted(pg_state.parent.glob(f"{pg_state.name}-w*"))]
    files: list[Path] = []
    for directory in (KAFKA_DIR / "logs", *(state / "log" for state in pg_states)):
        with contextlib.suppress(OSError):
            files.extend(p for p in directory.iterdir() if p.is_file())
    return sorted(files)


class LogTails:
    """The bytes server log files gain from now on (a rotated file is read whole)."""

    def __init__(self, files: list[Path]) -> None:
        self.start = {path: self._size(path) for path in files}

    @staticmethod
    def _size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return 0

    def read(self) -> dict[Path, bytes]:
        tails: dict[Path, bytes] = {}
        for path, offset in self.start.items():
            try:
                with path.open("rb") as file:
                    if self._size(path) < offset:
                        offset = 0
                    file.seek(offset)
                    tails[path] = file.read()
            except OSError:
                continue
        return tails


def log_text(record: logging.LogRecord) -> str:
    """Everything a log record carries that a handler could write: message, arguments, the
    fields passed as `extra`, exception and stack. (Not its timestamps, whose digits would match
    number needles by chance.)"""
    standard = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
    try:
        message = record.getMessage()
    except Exception:  # a malformed call still logs its template and arguments
        message = f"{record.msg!r} % {record.args!r}"
    parts = [record.name, message, repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in standard]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


@dataclass(frozen=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def raw(self) -> bytes:
        head = b"".join(name.encode() + b"=" + value for name, value in self.headers)
        return (self.key or b"") + b"\x00" + (self.value or b"") + b"\x00" + head


async def read_records(bootstrap: str, topic: str) -> list[RawRecord]:
    """Every record of the topic up to its end offsets as of now, as the broker returns it."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(bootstrap, topic)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[RawRecord] = []
        async with asyncio.timeout(WAIT):
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, records in batches.items():
                    out.extend(
                        RawRecord(
                            topic,
                            tp.partition,
                            r.offset,
                            r.key,
                            r.value,
                            tuple((k, bytes(v)) for k, v in r.headers),
                        )
                        for r in records
                        if r.offset < ends[tp]
                    )
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def dump_schema(database_url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a PostgreSQL schema."""
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_type = 'BASE TABLE' ORDER BY table_name",
            schema,
        )
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for (name,) in tables:
            fetched = await connection.fetch(f'SELECT * FROM "{schema}"."{name}"')  # noqa: S608
            rows[name] = [tuple(row.values()) for row in fetched]
        return rows
    finally:
        await connection.close()


def rows_blob(rows: Iterable[tuple[Any, ...]]) -> bytes:
    out = bytearray()
    for row in rows:
        for value in row:
            if isinstance(value, bytes | bytearray | memoryview):
                out += bytes(value)
            elif isinstance(value, str):
                out += value.encode()
            else:
                out += str(value).encode()
            out += b"\x00"
        out += b"\n"
    return bytes(out)


# ====================================================================== the synthetic check


def test_the_scan_finds_each_secret_in_every_form_it_may_be_stored_in(tmp_path: Path) -> None:
    """The scan's own positive control: each secret, stored as services and libraries store
    text, is found (and attributed to the right secret); ciphertext of it is not."""
    secrets = Secrets.invent("planted", random.Random(7))
    scan = Scan(secrets.needles())
    guardian = dict(
        zip(("last_name", "first_name", "patronymic"), secrets.guardian.parts, strict=True)
    )
    passport = {"series": secrets.passport_series, "number": secrets.passport_number}
    pupil = dict(zip(("last_name", "first_name", "patronymic"), secrets.pupil.parts, strict=True))
    record = {"full_name": pupil, "snils": secrets.snils, "guardian": guardian}
    record |= {"passport": passport, "phone": secrets.phone}
    everything = {
        "pupil's name",
        "СНИЛС",
        "guardian's name",
        "guardian's passport",
        "guardian's contact",
    }
    stored_forms = {
        "json utf-8": json.dumps(record, ensure_ascii=False).encode(),
        "json ascii": json.dumps(record).encode(),
        "compact json": json.dumps(record, separators=(",", ":")).encode(),
        "utf-16": json.dumps(record, ensure_ascii=False).encode("utf-16"),
        "repr of bytes": repr(json.dumps(record, ensure_ascii=False).encode()).encode(),
        "upper case": json.dumps(record, ensure_ascii=False).upper().encode(),
        "a url": urllib.parse.urlencode({"q": json.dumps(record, ensure_ascii=False)}).encode(),
    }
    for form, blob in stored_forms.items():
        noise = random.Random(form).randbytes(4096)
        hits = scan.blob(form, noise + blob + noise)
        assert {h.secret.removeprefix("planted ") for h in hits} >= everything, form
    # Separators of the СНИЛС as people write it.
    known = Scan(Secrets(**{**vars(secrets), "snils": "11223344595"}).needles())
    for written in ("112-233-445 95", "112 233 445 95", "112-233-445-95", "11223344595"):
        assert "planted СНИЛС" in {n.secret for n in known.blob(written, written.encode())}
    # The document: its bytes, base64 at any offset, its checksum.
    document = secrets.document
    for prefix in (b"", b"x", b"xy"):
        assert scan.blob("base64", base64.b64encode(prefix + document)), prefix
    assert scan.blob("document", document)
    assert scan.blob("checksum", hashlib.sha256(document).hexdigest().encode())
    # A real SQLite file with a WAL, as the services keep their stores.
    path = tmp_path / "control.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (data BLOB)")
    connection.execute("INSERT INTO t VALUES (?)", (json.dumps(record).encode(),))
    connection.commit()
    try:
        probe = Scan(secrets.needles())
        assert probe.files(tmp_path) >= 2  # the database and its -wal
        assert everything <= {s.removeprefix("planted ") for s in probe.secrets_found()}
    finally:
        connection.close()
    # Ciphertext of the same secrets is not a hit.
    noise_scan = Scan(secrets.needles())
    encrypted = hashlib.sha512(json.dumps(record).encode()).digest() * 64
    assert noise_scan.blob("ciphertext", base64.b64encode(encrypted) + encrypted) == []


# ====================================================================== the scenario


@dataclass
class Suite:
    """The three services on one temporary var/, with a client each and tokens for every role."""

    signer: DevelopmentSigner
    identity: httpx.AsyncClient
    consent: httpx.AsyncClient
    portfolio: httpx.AsyncClient
    identity_app: FastAPI
    consent_app: FastAPI
    portfolio_app: FastAPI
    region_id: str = ""
    school_id: str = ""

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}

    async def ok(self, response: Any, status: int = 200) -> dict[str, Any]:
        answer: httpx.Response = await response
        assert answer.status_code == status, answer.text
        body: dict[str, Any] = answer.json()
        if POSITION_HEADER in answer.headers:
            body["_token"] = answer.headers[POSITION_HEADER]
        return body


@dataclass
class Pupil:
    secrets: Secrets
    participant_id: str = ""
    consent_id: str = ""
    tokens: list[str] = field(default_factory=list)


class Relays:
    """Real relays (`bilet.relay`) publishing services' stores to this test's topics, with the
    catalogue's filter of each service, as `python -m bilet.relay --service <svc>` does."""

    def __init__(self, bootstrap: str, var_dir: Path, topics: dict[str, str]) -> None:
        self.bootstrap = bootstrap
        self.var_dir = var_dir
        self.topics = topics
        self.running: dict[str, tuple[Relay, EventStore, asyncio.Task[None]]] = {}

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[Relays]:
        options = KafkaOptions(bootstrap_servers=self.bootstrap, partitions=PARTITIONS)
        async with contextlib.AsyncExitStack() as stack:
            for service, topic in self.topics.items():
                location = StoreLocation(sqlite_path=self.var_dir / f"{service}.sqlite3")
                store, positions, recoverable = await stack.enter_async_context(
                    open_store(location, 0.05)
                )
                relay = Relay(
                    name=topic,
                    store=store,
                    positions=positions,
                    connect=KafkaConnector(options, service, topic=topic),
                    options=RelayOptions(
                        event_types=frozenset(CATALOGUE.event_types_of(service)),
                        checkpoint_interval=0.05,
                        lag_interval=0.5,
                    ),
                    recoverable=recoverable,
                )
                task = asyncio.create_task(relay.run(), name=f"relay-{service}")
                self.running[service] = (relay, store, task)
                stack.push_async_callback(self._stop, relay, task)
            yield self

    @staticmethod
    async def _stop(relay: Relay, task: asyncio.Task[None]) -> None:
        relay.stop()
        async with asyncio.timeout(WAIT):
            await task

    async def published(self) -> dict[str, list[RecordedEvent]]:
        """Wait until each relay has published every publishable event stored so far; the
        store's events that should be on the topic."""
        out: dict[str, list[RecordedEvent]] = {}
        for service, (relay, store, task) in self.running.items():
            assert not task.done(), f"the relay of {service} stopped: {task}"
            types = frozenset(CATALOGUE.event_types_of(service))
            publishable = [e for e in await read_store(store) if e.type in types]
            if publishable:
                async with asyncio.timeout(WAIT):
                    await relay.wait_until_published(publishable[-1].position)
            out[service] = publishable
        return out


async def create_topics(bootstrap: str, topics: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics])
    finally:
        await admin.close()


async def delete_existing_topics(bootstrap: str, topics: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        mine = [t for t in topics if t in existing]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def wait_for(what: str, probe: Callable[[], Awaitable[bool]]) -> None:
    """Ask `probe()` until it says yes; fail after WAIT seconds."""
    try:
        async with asyncio.timeout(WAIT):
            while not await probe():  # noqa: ASYNC110 - another service's background job
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"not within {WAIT:g} s: {what}")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Only this test's settings: no BVB_* of the caller's shell reaches the services."""
    for name in list(os.environ):
        if name.startswith("BVB_"):
            monkeypatch.delenv(name)
    var_dir = tmp_path / "var"
    monkeypatch.setenv("BVB_VAR_DIR", str(var_dir))
    return var_dir


@contextlib.asynccontextmanager
async def running_suite(var_dir: Path, clock: Clock) -> AsyncIterator[Suite]:
    common: dict[str, Any] = {"var_dir": var_dir, "event_store": "sqlite"}
    identity_app = create_identity_app(IdentitySettings(**common))
    consent_app = create_consent_app(
        ConsentSettings(**common, consent_erasure_interval_seconds=0.1), clock=clock
    )
    portfolio_app = create_portfolio_app(PortfolioSettings(**common, portfolio_embedded_feed=True))
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for name, app in (
            ("identity", identity_app),
            ("consent", consent_app),
            ("portfolio", portfolio_app),
        ):
            manager = await stack.enter_async_context(app_lifespan(app))
            transport = httpx.ASGITransport(app=manager.app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url=f"http://{name}")
                )
            )
        # The portfolio decides consents' validity on its day: the scenario's day.
        portfolio_app.state.portfolio.today = lambda: clock.now.date()
        identity, consent, portfolio = clients
        yield Suite(
            ensure_development_keys(var_dir),
            identity,
            consent,
            portfolio,
            identity_app=identity_app,
            consent_app=consent_app,
            portfolio_app=portfolio_app,
        )


async def seed_identity(suite: Suite) -> None:
    operator = suite.token(Role.OPERATOR)
    await suite.ok(
        suite.identity.put(
            f"/identity/v1/seasons/{SEASON}/rules",
            headers=operator,
            json={
                "eligible_grades": {"lowest": 6, "highest": 11},
                "max_career_events": 3,
                "diagnostics_stages": STAGES,
                "starts_on": "2019-09-01",
                "ends_on": "2020-05-31",
            },
        )
    )
    region = await suite.ok(
        suite.identity.post(
            "/identity/v1/regions",
            headers=operator,
            json={
                "region_code": "47",
                "name": "Ленинградская область",
                "season": SEASON,
                "time_zone": "Europe/Moscow",
                "coordinator": "ГБУ ДО «Интеллект»",
            },
        ),
        201,
    )
    suite.region_id = region["region_id"]
    school = await suite.ok(
        suite.identity.post(
            f"/identity/v1/regions/{suite.region_id}/schools",
            headers=suite.token(Role.COORDINATOR, region=suite.region_id),
            json={"name": "МОУ «СОШ № 3»", "municipality": "Лужский муниципальный район"},
        ),
        201,
    )
    suite.school_id = school["school_id"]


async def enrol_with_verified_consent(suite: Suite, pupil: Pupil) -> None:
    """Identity registers the pupil; the school submits the guardian's signed form; the region's
    coordinator verifies it."""
    registrar = suite.token(Role.REGISTRAR, school=suite.school_id)
    registered = await suite.ok(
        suite.identity.post(
            "/identity/v1/participants",
            headers=registrar,
            json=pupil.secrets.registration(suite.school_id),
        ),
        201,
    )
    pupil.participant_id = registered["participant_id"]
    pupil.tokens.append(registered["_token"])
    form = pupil.secrets.consent_form(pupil.participant_id)
    submitted = await suite.ok(
        suite.consent.post(
            "/consent/v1/consents",
            headers={**registrar, POSITION_HEADER: registered["_token"]},
            files={
                "consent": (None, json.dumps(form, ensure_ascii=False), "application/json"),
                "document": ("scan.pdf", pupil.secrets.document, "application/pdf"),
            },
        ),
        201,
    )
    pupil.consent_id = submitted["consent_id"]
    verified = await suite.ok(
        suite.consent.post(
            f"/consent/v1/consents/{pupil.consent_id}/verify",
            headers=suite.token(Role.COORDINATOR, region=suite.region_id),
        )
    )
    pupil.tokens.append(verified["_token"])


async def unseal_all(
    cipher: FieldCipher, events: Iterable[DomainEvent]
) -> dict[str, list[dict[str, object]]]:
    """The sealed fields of events, opened, by subject."""
    opened: dict[str, list[dict[str, object]]] = {}
    for event in events:
        if sealed_fields(type(event)):
            values = await unseal(cipher, event)
            if values:
                opened.setdefault(event.subject, []).append(values)
    return opened


def decode_stored(service: str, recorded: RecordedEvent) -> DomainEvent | AuditRecord:
    """Any event of a service's store: the catalogue's, the service's internal ones, the audit
    trail."""
    if category_of(recorded.stream_id) == AUDIT_CATEGORY:
        assert recorded.type == AUDIT_EVENT_TYPE, recorded.type
        body = json.loads(recorded.data)
        body["at"] = datetime.fromisoformat(body["at"])
        body["fields"] = tuple(body["fields"])
        return AuditRecord(**body)
    if service == "identity":
        return decode_identity_event(recorded, recorded.stream_id)
    if service == "consent":
        return decode_consent_event(recorded, recorded.stream_id)
    return decode(recorded)


def names_of(opened: list[dict[str, object]]) -> set[str]:
    """Every text inside opened sealed values."""
    texts: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.add(value)
        elif isinstance(value, dict):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner)

    for values in opened:
        walk(values)
    return texts


@dataclass
class Proof:
    """The scenario's state, and what every look found that it must not have."""

    var_dir: Path
    tmp_path: Path
    bootstrap: str
    database_url: str
    clock: Clock
    topics: dict[str, str]
    schemas: dict[str, str]
    erased: Pupil
    other: Pupil
    findings: list[str] = field(default_factory=list)
    key_needles: list[Needle] = field(default_factory=list)
    reservation_needles: list[Needle] = field(default_factory=list)
    ciphertexts: list[str] = field(default_factory=list)  # of the pupil's registration
    registration_records: set[bytes] = field(default_factory=set)
    records: dict[str, list[RawRecord]] = field(default_factory=dict)
    store_events: dict[str, list[RecordedEvent]] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.erased.participant_id

    def scan(self, *, other_checksums: bool = True) -> Scan:
        """The erased pupil's secrets and data key; the other pupil's secrets too (sealed: never
        in the clear either), except, where asked, the checksum of the document they still
        have, which the document store keeps beside its ciphertext."""
        others = self.other.secrets.needles()
        if not other_checksums:
            others = [n for n in others if not n.form.startswith("sha256")]
        return Scan(
            self.erased.secrets.needles() + others + self.key_needles + self.reservation_needles
        )

    def keep(self, scan: Scan) -> None:
        self.findings += scan.found

    # ------------------------------------------------------------------ before the withdrawal
    async def shown_only_to_the_entitled(self, suite: Suite) -> None:
        """The names are shown to whom they may be shown; the needles match what is shown (a
        control on the real secrets); no file holds any of it in the clear."""
        navigator = suite.token(Role.NAVIGATOR, school=suite.school_id)
        operator = suite.token(Role.OPERATOR)
        for pupil in (self.erased, self.other):
            seen = await suite.ok(
                suite.portfolio.get(
                    f"/portfolio/v1/participants/{pupil.participant_id}",
                    headers={**navigator, POSITION_HEADER: ", ".join(pupil.tokens)},
                )
            )
            assert seen["display_name"]["last_name"] == pupil.secrets.pupil.last_name
            assert seen["display_name"]["erased"] is False
        shown = Scan(self.erased.secrets.needles())
        registrar = suite.token(Role.REGISTRAR, school=suite.school_id)
        consent_url = f"/consent/v1/consents/{self.erased.consent_id}"
        for client, url, headers, expected in (
            (
                suite.portfolio,
                f"/portfolio/v1/participants/{self.subject}",
                navigator,
                {"pupil's name"},
            ),
            (
                suite.identity,
                f"/identity/v1/participants/{self.subject}",
                registrar,
                {"pupil's name", "СНИЛС"},
            ),
            (suite.consent, consent_url, operator, {"guardian's name", "guardian's passport"}),
            # The copy rebuilt from the upload's pixels (ADR 0015): what it shows is no text.
            (suite.consent, f"{consent_url}/document", operator, set()),
        ):
            answer = await client.get(url, headers=headers)
            assert answer.status_code == 200, answer.text
            seen_there = {n.secret.removeprefix("erased ") for n in shown.blob(url, answer.content)}
            assert seen_there >= expected, (url, seen_there)
        assert answer.content.startswith(b"%PDF-")
        assert answer.content != self.erased.secrets.document  # never the upload itself
        # The upload's checksum is what the document store keeps as evidence, beside the copy.
        checksum = hashlib.sha256(self.erased.secrets.document).hexdigest().encode()
        assert {n.form for n in shown.blob("checksum", checksum)} == {"sha256 hex"}

        # Nothing is in the clear in any file, before the erasure either. Only each document's
        # checksum is kept, beside the document's ciphertext, in the document store.
        before = self.scan()
        before.files(self.var_dir)
        documents = self.var_dir / "consent-documents"
        checksums = {Path(where).parent.name for where, n in before.hits if n.form == "sha256 hex"}
        assert checksums == {self.subject, self.other.participant_id}, before.found
        assert all(Path(where).is_relative_to(documents) for where, _ in before.hits)
        assert [n for _, n in before.hits if not n.form.startswith("sha256")] == []

    async def key_found_while_it_exists(self) -> None:
        """The pupil's data key, raw and wrapped: the wrapped key is in the key store's file (a
        control for the scan of the key store after the erasure)."""
        keystore = await stores.open_key_store(IdentitySettings(var_dir=self.var_dir))
        try:
            key = await keystore.get(self.subject)
            assert key is not None
        finally:
            await keystore.close()
        keys_file = self.var_dir / "keys.sqlite3"
        with contextlib.closing(sqlite3.connect(f"file:{keys_file}?mode=ro", uri=True)) as db:
            (wrapped,) = db.execute(
                "SELECT wrapped FROM data_keys WHERE subject = ?", (self.subject,)
            ).fetchone()
        self.key_needles = [
            Needle("erased pupil's data key", form, data)
            for form, data in (
                ("raw", key.key),
                ("base64", base64.b64encode(key.key)),
                ("hex", key.key.hex().encode()),
                ("wrapped", bytes(wrapped)),
                ("wrapped base64", base64.b64encode(bytes(wrapped))),
                ("wrapped hex", bytes(wrapped).hex().encode()),
            )
        ]
        control = Scan(self.key_needles)
        control.files(self.var_dir)
        assert any(
            Path(where).name.startswith("keys.sqlite3") and needle.form == "wrapped"
            for where, needle in control.hits
        ), control.found

    async def reservation_found_while_held(self, suite: Suite) -> None:
        """The keyed hashes identity keeps of the pupil, as its store holds them: the reservation
        key (HMAC of the СНИЛС) and the person key (HMAC of name and birth date). With the
        pseudonym key they give the СНИЛС back by trying every number, so after the erasure
        they must be nowhere; the scan sees them in identity's file now (a control). The
        pseudonym key must be in no file in the clear at any time."""
        store: EventStore = suite.identity_app.state.event_store
        (reserved,) = [
            json.loads(e.data)
            for e in await read_store(store)
            if e.type == "ChildReserved" and json.loads(e.data)["participant_id"] == self.subject
        ]
        self.reservation_needles = [
            Needle(f"erased pupil's {name}", form, data)
            for name in ("reservation_key", "person_key")
            for form, data in (
                ("hex", reserved[name].encode()),
                ("HEX", reserved[name].upper().encode()),
                ("raw", bytes.fromhex(reserved[name])),
            )
        ]
        # The pseudonym key itself is kept by the key store, wrapped: in no file in the clear,
        # ever (it used to be a file beside the store).
        keystore = await stores.open_key_store(IdentitySettings(var_dir=self.var_dir))
        try:
            settings = IdentitySettings(var_dir=self.var_dir)
            secret = await load_pseudonym_key(settings, store, keystore)
        finally:
            await keystore.close()
        pseudonym_needles = [
            Needle("pseudonym key", form, data)
            for form, data in (
                ("raw", secret),
                ("base64", base64.b64encode(secret)),
                ("hex", secret.hex().encode()),
            )
        ]
        control = Scan(self.reservation_needles)
        control.files(self.var_dir)
        self.reservation_needles += pseudonym_needles
        assert {"erased pupil's reservation_key", "erased pupil's person_key"} <= {
            needle.secret
            for where, needle in control.hits
            if Path(where).name.startswith("identity.sqlite3")
        }, control.found

    async def published_sealed(self, relays: Relays) -> None:
        """The registration is on the topic, sealed; its ciphertext opens to the name while the
        key exists."""
        published = await relays.published()
        stream = f"participant-{self.subject}"
        (registration, *_) = [e for e in published["identity"] if e.stream_id == stream]
        self.ciphertexts = _ciphertexts(registration.data)
        assert self.ciphertexts, "the registration carries sealed fields"
        records = await read_records(self.bootstrap, self.topics["identity"])
        (record,) = [r for r in records if (r.value or b"") == registration.data]
        self.registration_records = {r.value or b"" for r in records if r.key == stream.encode()}
        event = decode(from_record(record.value, list(record.headers)).event)
        assert isinstance(event, ParticipantRegistered)
        keystore = await stores.open_key_store(IdentitySettings(var_dir=self.var_dir))
        try:
            opened = await unseal(FieldCipher(keystore), event)
        finally:
            await keystore.close()
        pupil = self.erased.secrets
        assert opened["full_name"] == dict(
            zip(("last_name", "first_name", "patronymic"), pupil.pupil.parts, strict=True)
        )
        assert opened["snils"] == pupil.snils_formatted

    # ------------------------------------------------------------------ the erasure
    async def withdrawn_and_destroyed(self, suite: Suite) -> None:
        """The guardian withdraws; nothing is due until `erase_by`; the clock passes it; the
        consent service's own destruction job erases; the portfolio applies it."""
        operator = suite.token(Role.OPERATOR)
        status_url = f"/consent/v1/participants/{self.subject}/status"
        withdrawn = await suite.ok(
            suite.consent.post(
                f"/consent/v1/consents/{self.erased.consent_id}/withdraw",
                headers=suite.token(Role.GUARDIAN, children=[self.subject]),
                json={},
            )
        )
        self.erased.tokens.append(withdrawn["_token"])
        status = await suite.ok(suite.consent.get(status_url, headers=operator))
        assert status["state"] == "withdrawn"
        consent_service = suite.consent_app.state.consent
        assert (await consent_service.erase_due("e2e-probe")).erased == [], "not due yet"
        assert await _key_exists(self.var_dir, self.subject)

        self.clock.advance(31)
        assert self.clock.now.date().isoformat() > status["erase_by"]

        async def erased_now() -> bool:
            answer = await suite.consent.get(status_url, headers=operator)
            return answer.status_code == 200 and answer.json()["state"] == "erased"

        await wait_for("the destruction job erased the pupil", erased_now)
        assert not await _key_exists(self.var_dir, self.subject)

        # Identity follows consent's erasures: the reservation and the profile are purged.
        identity_store: EventStore = suite.identity_app.state.event_store

        async def released() -> bool:
            return await identity_store.stream_version(f"profile-{self.subject}") is None

        await wait_for("identity released the pupil's reservation", released)

        # The portfolio applies ParticipantErased: the pupil is gone from it.
        navigator = suite.token(Role.NAVIGATOR, school=suite.school_id)
        consent_store = suite.consent_app.state.runtime.store
        (*_, last) = await consent_store.read_stream(f"consent-{self.subject}")
        erasure = decode(last)
        assert isinstance(erasure, ParticipantErased)
        record = await consent_service.record(erasure.destruction_record_id)
        assert record is not None
        assert record.performed_by == JOB_ACTOR, "the consent service's own job did it"
        gone = await suite.portfolio.get(
            f"/portfolio/v1/participants/{self.subject}",
            headers={**navigator, POSITION_HEADER: f"consent:{last.position}:{last.stream_id}"},
        )
        assert gone.status_code == 410, gone.text
        assert gone.json()["code"] == "participant_erased"
        listed = await suite.ok(
            suite.portfolio.get(
                f"/portfolio/v1/schools/{suite.school_id}/participants", headers=navigator
            )
        )
        assert [p["participant_id"] for p in listed["items"]] == [self.other.participant_id]
        still = await suite.ok(
            suite.portfolio.get(
                f"/portfolio/v1/participants/{self.other.participant_id}", headers=navigator
            )
        )
        assert still["display_name"]["last_name"] == self.other.secrets.pupil.last_name
        document = await suite.consent.get(
            f"/consent/v1/consents/{self.erased.consent_id}/document", headers=operator
        )
        assert document.status_code == 410
        assert not (self.var_dir / "consent-documents" / self.subject).exists()

    async def nothing_in_files_while_running(self, relays: Relays) -> None:
        """Everything is published, and the store files, -wal and -shm included, hold none of
        it while the services still run."""
        published = await relays.published()
        assert any(
            e.type == ParticipantErased.event_type and e.stream_id == f"consent-{self.subject}"
            for e in published["consent"]
        )
        running = self.scan(other_checksums=False)
        running.files(self.var_dir)
        self.keep(running)

    # ------------------------------------------------------------------ after the shutdown
    def nothing_in_files_after_shutdown(self) -> None:
        files = self.scan(other_checksums=False)
        assert files.files(self.var_dir) > 10
        self.keep(files)
        # The other pupil's document, checksum and all, is still where it was: the scan sees it.
        still = Scan([n for n in self.other.secrets.needles() if n.form.startswith("sha256")])
        still.files(self.var_dir / "consent-documents" / self.other.participant_id)
        assert still.found

    async def stores_replay(self, cipher: FieldCipher, sources: dict[str, EventStore]) -> None:
        """Every event of every store decodes; the pupil's sealed fields read as erased, the
        other pupil's still open."""
        for service, store in sources.items():
            events = self.store_events[service] = await read_store(store)
            decoded = [decode_stored(service, r) for r in events]
            for recorded, event in zip(events, decoded, strict=True):
                if CATALOGUE.is_published(recorded.type):
                    assert decode(recorded) == event
            opened = await unseal_all(cipher, [d for d in decoded if isinstance(d, DomainEvent)])
            if service not in PUBLISHERS:
                assert not opened, service
                continue
            assert opened.get(self.subject), f"{service}'s store holds the pupil's sealed fields"
            assert all(is_erased(v) for values in opened[self.subject] for v in values.values())
            others = opened[self.other.participant_id]
            assert not any(is_erased(v) for values in others for v in values.values())
            named = (
                self.other.secrets.pupil if service == "identity" else self.other.secrets.guardian
            )
            assert named.last_name in names_of(others)

    async def rebuilt_from_stores(
        self, cipher: FieldCipher, sources: dict[str, EventStore]
    ) -> None:
        """A portfolio rebuilt from scratch from the stores, into a fresh read model."""
        directory = self.tmp_path / "rebuilt"
        read_model = await SqliteReadModel.open(directory / "portfolio-readmodel.sqlite3")
        try:
            projection = PortfolioProjection()
            await read_model.install(projection)
            await rebuild_from_stores(
                read_model,
                projection,
                {s: sources[s] for s in SOURCES},
                event_types=CATALOGUE.event_types(),
            )
            await _assert_portfolio_erased(read_model, cipher, self.erased, self.other)
        finally:
            await read_model.close()
        rebuilt = self.scan()
        assert rebuilt.files(directory) >= 1
        self.keep(rebuilt)

    async def topics_replay(self, cipher: FieldCipher) -> None:
        """Every record decodes (CloudEvents, then the catalogue); the topics hold exactly the
        stores' published events; the pupil's ciphertext is all still there, unreadable."""
        found = self.scan()
        for service, topic in self.topics.items():
            published = frozenset(CATALOGUE.event_types_of(service))
            received = []
            for record in self.records[service]:
                found.blob(f"{topic}[{record.partition}]@{record.offset}", record.raw())
                event = from_record(record.value, list(record.headers))
                assert event.source == source_of(service)
                received.append(PublishedEvent(record.partition, record.offset, event.event))
            stored = [e for e in self.store_events[service] if e.type in published]
            report = audit(stored, received)
            assert report.ok, report.summary()
            events = [decode(r.event) for r in received]
            opened = await unseal_all(cipher, events)
            assert opened[self.subject], f"{topic} holds the pupil's sealed fields"
            assert all(is_erased(v) for values in opened[self.subject] for v in values.values())
            others = opened[self.other.participant_id]
            assert not any(is_erased(v) for values in others for v in values.values())
            # The proof is the destroyed key, not vanished records: the ciphertext is there.
            sealed = [
                getattr(e, name)
                for e in events
                if sealed_fields(type(e)) and e.subject == self.subject
                for name in sealed_fields(type(e))
                if getattr(e, name) is not None
            ]
            assert sealed
            assert all(isinstance(v, SealedValue) for v in sealed)
            assert not any(isinstance(v, ErasedValue) for v in sealed)
        stream = f"participant-{self.subject}".encode()
        now = {r.value or b"" for r in self.records["identity"] if r.key == stream}
        assert self.registration_records <= now, "published records never change"
        assert all(c.encode() in b"".join(now) for c in self.ciphertexts)
        self.keep(found)

    async def rebuilt_on_postgres(self, cipher: FieldCipher) -> None:
        """The portfolio and the consent facts rebuilt from the topics into PostgreSQL, as their
        Kafka workers build them; every row of every table of their schemas dumped."""
        found = self.scan()
        feeds: dict[str, Projection] = {
            "portfolio": PortfolioProjection(),
            "consent": ParticipantFactsProjection(),
        }
        for name, projection in feeds.items():
            schema = self.schemas[name]
            read_model = await PostgresReadModel.open(self.database_url, schema=schema)
            try:
                await read_model.install(projection)
                await rebuild_from_kafka(
                    read_model,
                    projection,
                    bootstrap_servers=self.bootstrap,
                    topics=list(self.topics.values()),
                    sources={topic: service for service, topic in self.topics.items()},
                )
                if name == "portfolio":
                    await _assert_portfolio_erased(read_model, cipher, self.erased, self.other)
            finally:
                await read_model.close()
            dumped = await dump_schema(self.database_url, schema)
            assert sum(len(rows) for rows in dumped.values()) > 0
            for table, rows in dumped.items():
                found.blob(f"postgres {schema}.{table}", rows_blob(rows))
        self.keep(found)

    def nothing_in_segments(self) -> None:
        """The broker's log segment files of the topics used (read only): the pupil's
        ciphertext is there, nothing else of theirs. The dead-letter topics exist since the
        rebuilds from Kafka."""
        found = self.scan()
        ciphertext = Scan(
            [Needle("pupil's ciphertext", "ct", c.encode()) for c in self.ciphertexts]
        )
        for topic in [*self.topics.values(), *(dlq_topic(t) for t in self.topics.values())]:
            directories = partition_dirs(topic)
            assert len(directories) == (1 if topic.endswith(".dlq") else PARTITIONS), (
                f"no partition directories of {topic} under {kafka_log_dirs()}: the broker at "
                f"{self.bootstrap} keeps its segments elsewhere (not on this machine?)"
            )
            for directory in directories:
                found.files(directory)
                ciphertext.files(directory)
        held = {needle.data for _, needle in ciphertext.hits}
        assert held == {c.encode() for c in self.ciphertexts}, "the segments hold the ciphertext"
        self.keep(found)

    def nothing_in_logs(
        self,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
        server_logs: LogTails,
        control: Secrets,
    ) -> None:
        """Every record logged in this process, its stdout and stderr, and what the broker and
        PostgreSQL logged meanwhile; controls planted in each are found."""
        logging.getLogger("e2e.control").debug(
            "planted: %s %s", control.pupil.last_name, control.snils_formatted
        )
        print(f"planted: {control.guardian.last_name} {control.marker}")
        print(f"planted: {control.phone}", file=sys.stderr)
        out, err = capfd.readouterr()
        assert len(caplog.records) > 100, "every logger's records are captured (DEBUG and up)"
        places = {
            "log records": "\n".join(log_text(record) for record in caplog.records).encode(),
            "stdout": out.encode(),
            "stderr": err.encode(),
            **{str(path): tail for path, tail in server_logs.read().items()},
        }
        found = self.scan()
        for where, data in places.items():
            found.blob(where, data)
        self.keep(found)

        def planted_in(*wheres: str) -> set[str]:
            scan = Scan(control.needles())
            for where in wheres:
                scan.blob(where, places[where])
            return scan.secrets_found()

        assert {"control pupil's name", "control СНИЛС"} <= planted_in("log records")
        assert {"control guardian's name", "control document"} <= planted_in("stdout")
        assert "control guardian's contact" in planted_in("stderr")
        # The server logs, when this checkout's scripts/infra/infra.sh runs the servers: the
        # broker's mention the topics; PostgreSQL's the statement planted in the controls.
        broker = [w for w in places if Path(w).parent == KAFKA_DIR / "logs"]
        if broker:
            assert any(self.topics["identity"].encode() in places[w] for w in broker)
        postgres = [w for w in places if Path(w).name.startswith("postgres")]
        if postgres:
            assert "control guardian's passport" in planted_in(*postgres)


@pytest.mark.integration
async def test_a_withdrawal_erases_the_pupil_everywhere_and_the_history_still_replays(
    clean_environment: Path,
    tmp_path: Path,
    kafka_bootstrap: str,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    await discover_log_dirs(kafka_bootstrap)
    server_logs = LogTails(server_log_files())
    run = uuid.uuid4().hex[:10]
    rng = random.Random(run)
    topics = {service: f"e2e-erasure-{run}-{service}" for service in PUBLISHERS}
    proof = Proof(
        var_dir=clean_environment,
        tmp_path=tmp_path,
        bootstrap=kafka_bootstrap,
        database_url=database_url,
        clock=Clock(START),
        topics=topics,
        schemas={name: f"e2e_erasure_{run}_{name}" for name in ("portfolio", "consent")},
        erased=Pupil(Secrets.invent("erased", rng)),
        other=Pupil(Secrets.invent("other", rng)),
    )
    control = Secrets.invent("control", rng)  # planted on purpose: the scans must find it
    control_topic = f"e2e-erasure-{run}-control"
    try:
        await create_topics(kafka_bootstrap, [*topics.values(), control_topic])
        async with running_suite(proof.var_dir, proof.clock) as suite:
            relays = Relays(kafka_bootstrap, proof.var_dir, topics)
            async with relays.run():
                await seed_identity(suite)
                school_id = suite.school_id
                for pupil in (proof.erased, proof.other):
                    await enrol_with_verified_consent(suite, pupil)
                await proof.shown_only_to_the_entitled(suite)
                await proof.key_found_while_it_exists()
                await proof.reservation_found_while_held(suite)
                await proof.published_sealed(relays)
                await proof.withdrawn_and_destroyed(suite)
                await proof.nothing_in_files_while_running(relays)
            proof.records = {
                service: await read_records(kafka_bootstrap, topic)
                for service, topic in topics.items()
            }

        # Every service stopped.
        proof.nothing_in_files_after_shutdown()
        keystore = await stores.open_key_store(IdentitySettings(var_dir=proof.var_dir))
        settings = PortfolioSettings(var_dir=proof.var_dir, event_store="sqlite")
        sources = await stores.open_source_stores(settings, [*SOURCES, "portfolio"])
        try:
            cipher = FieldCipher(keystore)
            await proof.stores_replay(cipher, sources)
            await proof.rebuilt_from_stores(cipher, sources)
            await proof.topics_replay(cipher)
            await proof.rebuilt_on_postgres(cipher)
        finally:
            for store in sources.values():
                await store.close()
            await keystore.close()
        proof.nothing_in_segments()
        await plant_and_find_controls(
            control,
            tmp_path,
            kafka_bootstrap,
            database_url,
            control_topic,
            proof.schemas["portfolio"],
        )
        proof.nothing_in_logs(caplog, capfd, server_logs, control)
        assert proof.findings == [], "\n".join(proof.findings)
        await registers_again(proof.var_dir, proof.erased, school_id)
    finally:
        await delete_existing_topics(
            kafka_bootstrap,
            [*topics.values(), *(dlq_topic(t) for t in topics.values()), control_topic],
        )
        connection = await asyncpg.connect(database_url)
        try:
            for schema in proof.schemas.values():
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


async def registers_again(var_dir: Path, erased: Pupil, school_id: str) -> None:
    """Once erased, the child can come back: identity (restarted on the same files) registers
    the same child again, as a new participant."""
    app = create_identity_app(IdentitySettings(var_dir=var_dir, event_store="sqlite"))
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            answer = await client.post(
                "/identity/v1/participants",
                headers=_bearer(var_dir, Role.REGISTRAR, school=school_id),
                json=erased.secrets.registration(school_id),
            )
    assert answer.status_code == 201, answer.text
    assert answer.json()["participant_id"] != erased.participant_id


def _bearer(var_dir: Path, role: Role, **claims: Any) -> dict[str, str]:
    token = ensure_development_keys(var_dir).mint(role, **claims)
    return {"Authorization": f"Bearer {token}"}


async def _assert_portfolio_erased(
    read_model: ReadModel, cipher: FieldCipher, erased: Pupil, other: Pupil
) -> None:
    """The portfolio read model: the pupil marked erased with no name; the other named."""
    projection = PortfolioProjection()
    async with read_model.query(projection) as tx:
        rows = {
            row[0]: (row[1], bool(row[2]))
            for row in await tx.fetch(
                "SELECT participant_id, full_name, erased FROM {participants}"
            )
        }
    assert set(rows) == {erased.participant_id, other.participant_id}
    assert rows[erased.participant_id] == (None, True), "erased, and no name"
    sealed_name, was_erased = rows[other.participant_id]
    assert not was_erased
    envelope = json.loads(sealed_name)
    opened = await cipher.decrypt(other.participant_id, {"full_name": envelope})
    assert opened["full_name"]["last_name"] == other.secrets.pupil.last_name  # type: ignore[index]


async def plant_and_find_controls(
    control: Secrets,
    tmp_path: Path,
    bootstrap: str,
    database_url: str,
    topic: str,
    schema: str,
) -> None:
    """The same scans find secrets planted in a SQLite file, a Kafka topic (records and
    segment files) and a PostgreSQL table: a clean result elsewhere means something."""
    planted = json.dumps(
        {
            "full_name": {
                "last_name": control.pupil.last_name,
                "first_name": control.pupil.first_name,
            },
            "snils": control.snils,
            "guardian": control.guardian.last_name,
        }
    ).encode()  # ASCII JSON: Cyrillic as \u escapes
    directory = tmp_path / "control"
    directory.mkdir()
    with contextlib.closing(sqlite3.connect(directory / "control.sqlite3")) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (data TEXT)")
        connection.execute("INSERT INTO t VALUES (?)", (planted.decode(),))
        connection.commit()
        in_files = Scan(control.needles())
        in_files.files(directory)
        assert {"control pupil's name", "control СНИЛС"} <= in_files.secrets_found()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, planted, key=b"control", partition=0)
    finally:
        await producer.stop()
    records = await read_records(bootstrap, topic)
    in_records = Scan(control.needles())
    for record in records:
        in_records.blob("control record", record.raw())
    assert {"control pupil's name", "control СНИЛС"} <= in_records.secrets_found()
    in_segments = Scan(control.needles())
    dirs = partition_dirs(topic)
    assert len(dirs) == PARTITIONS
    for partition in dirs:
        in_segments.files(partition)
    assert {"control pupil's name", "control СНИЛС"} <= in_segments.secrets_found()

    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(f"CREATE TABLE {schema}.zz_control (data TEXT)")
        await connection.execute(
            f"INSERT INTO {schema}.zz_control VALUES ($1)",  # noqa: S608
            planted.decode(),
        )
    finally:
        await connection.close()
    in_rows = Scan(control.needles())
    for table, rows in (await dump_schema(database_url, schema)).items():
        in_rows.blob(table, rows_blob(rows))
    assert {"control pupil's name", "control СНИЛС"} <= in_rows.secrets_found()

    # For the scan of PostgreSQL's server log: a statement that fails on a planted value.
    connection = await asyncpg.connect(database_url)
    try:
        with contextlib.suppress(asyncpg.PostgresError):
            await connection.execute(f"SELECT '{control.passport_issued_by}'::int")
    finally:
        await connection.close()


# ====================================================================== small helpers


def _ciphertexts(data: bytes) -> list[str]:
    """The `ct` of every sealed envelope in an event's JSON."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("$enc") and isinstance(value.get("ct"), str):
                found.append(value["ct"])
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(json.loads(data))
    return found


async def _key_exists(var_dir: Path, subject: str) -> bool:
    keystore = await stores.open_key_store(IdentitySettings(var_dir=var_dir))
    try:
        return await keystore.get(subject) is not None
    finally:
        await keystore.close()
