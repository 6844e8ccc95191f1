"""What the consent service's tests (and the host's) use to set a scene: identity's published
events written into identity's store as identity writes them (sealed with the suite's key store),
a clock that tests move, consent forms, and tiny documents of each accepted type."""

import zlib
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from bilet import stores
from bilet.contracts import EventMetadata, encode, seal, sealed_scopes
from bilet.contracts.catalogue.identity import (
    DepartureReason,
    ParticipantLeftProgramme,
    ParticipantMerged,
    ParticipantMovedToSchool,
    ParticipantRegistered,
)
from bilet.crypto import FieldCipher
from bilet.eventstore import ANY
from bilet_consent.application.formats import pdf_file
from bilet_consent.settings import ConsentSettings

REGION = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
OTHER_REGION = UUID("5e2a3c10-4b1d-4f7e-9c2a-470000000078")
SCHOOL_3 = UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03")
SCHOOL_5 = UUID("2b848086-7aca-51be-b130-41e65476f3a5")
SPB_SCHOOL = UUID("0c3b9a52-7f3e-4d8a-8a10-000000000078")
PUPIL_NAME = "Соколова Дарья Андреевна"
PUPIL_SNILS = "112-233-445 95"
GUARDIAN_LAST = "Соколова"
GUARDIAN_FIRST = "Ирина"
PASSPORT_NUMBER = "731592"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC-32 of type and data."""
    crc = zlib.crc32(kind + data)
    return len(data).to_bytes(4, "big") + kind + data + crc.to_bytes(4, "big")


def _png() -> bytes:
    """A real 1×1 grey PNG: signature, IHDR, IDAT (one filtered scanline), IEND."""
    header = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + png_chunk(b"IEND", b"")
    )


def _jpeg() -> bytes:
    """A real 1×1 grey baseline JPEG: SOI, DQT, SOF0, two one-code Huffman tables, SOS, one
    entropy-coded byte (DC difference 0, end of block), EOI."""
    one_code = bytes([1] + [0] * 15) + b"\x00"  # a single code of length 1 for symbol 0
    return (
        b"\xff\xd8"
        + b"\xff\xdb\x00\x43\x00" + bytes([1] * 64)
        + b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
        + b"\xff\xc4\x00\x14\x00" + one_code
        + b"\xff\xc4\x00\x14\x10" + one_code
        + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
        + b"\x3f"
        + b"\xff\xd9"
    )  # fmt: skip


PNG = _png()
JPEG = _jpeg()


def pdf_document(*objects: bytes, header: bytes = b"%PDF-1.4\n", trailer: bytes = b"") -> bytes:
    """A well-formed PDF of these object bodies (numbered from 1, the first the catalog), with a
    cross-reference table and a trailer (`trailer` adds keys to it)."""
    return pdf_file(list(objects), header=header, trailer=trailer)


def pdf_stream(dictionary: bytes, data: bytes) -> bytes:
    """A stream object's body: `dictionary` (without `<<` `>>`) with its /Length, and the data."""
    length = b"/Length %d " % len(data)
    return b"<< " + length + dictionary + b" >>\nstream\n" + data + b"\nendstream"


def one_page_pdf(text: str = "Soglasie") -> bytes:
    """A one-page PDF showing `text` (ASCII), as a scanner's or a printer driver's would be."""
    content = b"BT /F1 12 Tf 40 800 Td (" + text.encode("ascii") + b") Tj ET"
    return pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        pdf_stream(b"/Filter /FlateDecode", zlib.compress(content)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )


# A real one-page PDF: content disarm renders every page, so a PDF without one is refused.
PDF = one_page_pdf()


class Clock:
    """A clock tests move (the service takes any `() -> datetime`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


async def register_pupils(
    settings: ConsentSettings, pupils: list[tuple[UUID, UUID, UUID]], grade: int = 7
) -> int:
    """Append `ParticipantRegistered` for (participant, school, region) to identity's store, with
    personal fields sealed with the participant's key; returns the last position."""
    store = await stores.open_event_store(settings, "identity")
    keystore = await stores.open_key_store(settings)
    try:
        cipher = FieldCipher(keystore)
        position = 0
        for participant_id, school_id, region_id in pupils:
            sealed = await seal(
                cipher,
                str(participant_id),
                {
                    "full_name": {"last_name": "Соколова", "first_name": "Дарья",
                                  "patronymic": "Андреевна"},
                    "birth_date": "2007-04-12",
                    "snils": PUPIL_SNILS,
                    "health_limitations": {"has_limitations": False, "kind": None},
                    "accessibility_needs": [],
                },
                sealed_scopes(ParticipantRegistered),
            )  # fmt: skip
            event = ParticipantRegistered(
                participant_id=participant_id,
                school_id=school_id,
                region_id=region_id,
                season=2019,
                grade=grade,
                **sealed,
            )
            result = await store.append(
                event.stream_id, [encode(event, EventMetadata(actor="test-registrar"))], ANY
            )
            position = result.position
        return position
    finally:
        await keystore.close()
        await store.close()


async def move_pupil(
    settings: ConsentSettings, participant_id: UUID, to_school: UUID, to_region: UUID
) -> int:
    store = await stores.open_event_store(settings, "identity")
    try:
        event = ParticipantMovedToSchool(
            participant_id=participant_id,
            from_school_id=SCHOOL_3,
            to_school_id=to_school,
            to_region_id=to_region,
            grade=7,
        )
        result = await store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        return result.position
    finally:
        await store.close()


def consent_form(participant_id: UUID, **overrides: Any) -> dict[str, Any]:
    today = date(2019, 9, 20)
    form: dict[str, Any] = {
        "participant_id": str(participant_id),
        "form_version": "2019-1",
        "purposes": ["programme_participation", "online_diagnostics", "career_events",
                     "portfolio", "recommendations", "health_data"],
        "signed_on": (today - timedelta(days=3)).isoformat(),
        "valid_until": "2020-08-31",
        "guardian": {
            "last_name": GUARDIAN_LAST,
            "first_name": GUARDIAN_FIRST,
            "patronymic": "Викторовна",
            "relationship": "parent",
            "passport": {"series": "41 05", "number": PASSPORT_NUMBER,
                         "issued_by": "ТП № 1 ОУФМС России в Лужском р-не",
                         "issued_on": "2010-03-15"},
            "phone": "8 (921) 123-45-67",
        },
    }  # fmt: skip
    for key, value in overrides.items():
        if key.startswith("guardian."):
            form["guardian"][key.removeprefix("guardian.")] = value
        else:
            form[key] = value
    return form


async def pupil_left(settings: ConsentSettings, participant_id: UUID, school_id: UUID) -> int:
    """Identity's record that the pupil left their school (docs/adr/0050)."""
    left = ParticipantLeftProgramme(
        participant_id=participant_id,
        school_id=school_id,
        season=2019,
        reason=DepartureReason.LEFT_SCHOOL,
    )
    return await _identity_recorded(settings, left)


async def pupil_merged(settings: ConsentSettings, participant_id: UUID, kept: UUID) -> int:
    """Identity's record that the profile was merged into `kept` (docs/adr/0043)."""
    merged = ParticipantMerged(participant_id=participant_id, kept_participant_id=kept)
    return await _identity_recorded(settings, merged)


async def _identity_recorded(
    settings: ConsentSettings, event: ParticipantLeftProgramme | ParticipantMerged
) -> int:
    store = await stores.open_event_store(settings, "identity")
    try:
        result = await store.append(event.stream_id, [encode(event, EventMetadata())], ANY)
        return result.position
    finally:
        await store.close()
