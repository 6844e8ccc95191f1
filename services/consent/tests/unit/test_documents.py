"""Documents: type by content (the first gate; decoding and rebuilding is the sandboxed disarmer's,
`tests/api/test_document_disarm.py`), size limit, encryption bound to participant and document."""

from dataclasses import replace
from uuid import uuid4

import pytest

from bilet.crypto import InMemoryKeyStore
from bilet.http.problems import Problem
from bilet_consent.api.multipart import parse
from bilet_consent.application.documents import (
    DocumentIntegrityError,
    DocumentSealer,
    check_document,
    media_type_of,
)
from bilet_consent.application.errors import (
    DocumentGone,
    DocumentTooLarge,
    EmptyDocument,
    UnsupportedDocument,
)
from bilet_consent.demo import demo_document
from bilet_consent.testing import JPEG, PNG, one_page_pdf
from bilet_consent.testing import PDF as TEST_PDF

PDF = b"%PDF-1.7\n...\n%%EOF\n"
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, "application/pdf"),
        (TEST_PDF, "application/pdf"),
        (one_page_pdf(), "application/pdf"),
        (demo_document(uuid4()), "application/pdf"),
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
    ],
)
def test_a_pdf_jpeg_or_png_passes_the_first_gate_by_its_first_bytes(
    content: bytes, media_type: str
) -> None:
    assert check_document(content, 1 << 20) == media_type


@pytest.mark.parametrize(
    "content",
    [
        MZ,
        b"\x7fELF\x02\x01",
        HTML,
        HTML + TEST_PDF,  # a PDF's header must be its first bytes: no polyglot in front
        b"PK\x03\x04" + b"\x00" * 30,
        b"GIF89a",
        b"\xff\xd8",
    ],
)
def test_what_is_not_a_pdf_jpeg_or_png_is_an_unsupported_type(content: bytes) -> None:
    assert media_type_of(content) is None
    with pytest.raises(UnsupportedDocument):
        check_document(content, 1 << 20)


def test_check_document_refusals() -> None:
    with pytest.raises(EmptyDocument):
        check_document(b"", 100)
    with pytest.raises(DocumentTooLarge):
        check_document(PDF + b" " * 100, 50)
    with pytest.raises(UnsupportedDocument):
        check_document(b"MZ" + b"\x00" * 10, 100)
    assert check_document(PDF, 100) == "application/pdf"


async def test_sealed_documents_open_only_for_their_participant_and_id() -> None:
    keystore = InMemoryKeyStore()
    sealer = DocumentSealer(keystore)
    participant, document = uuid4(), uuid4()
    stored = await sealer.seal(participant, document, "application/pdf", PDF)
    assert PDF not in stored.ciphertext
    assert await sealer.open(stored) == PDF
    moved = replace(stored, participant_id=uuid4())
    with pytest.raises(DocumentGone):  # another participant: no key of theirs
        await sealer.open(moved)
    await keystore.get_or_create(str(moved.participant_id))
    other_doc = replace(stored, document_id=uuid4())
    with pytest.raises(DocumentIntegrityError):
        await sealer.open(other_doc)
    await keystore.erase(str(participant))
    with pytest.raises(DocumentGone):
        await sealer.open(stored)


def test_multipart_parts_are_cut_exactly() -> None:
    body = (
        b"preamble\r\n--b0undary\r\n"
        b'Content-Disposition: form-data; name="consent"\r\n\r\n{"a": 1}\r\n'
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="document"; filename="x.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n\r\n--b0undar\r\n\x00\xff\r\n--b0undary--\r\n"
    )
    parts = parse('multipart/form-data; boundary="b0undary"', body)
    assert parts["consent"].data == b'{"a": 1}'
    assert parts["document"].data == b"\r\n--b0undar\r\n\x00\xff"
    assert parts["document"].filename == "x.pdf"
    twice = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n' * 2 + b"--b--"
    with pytest.raises(Problem) as raised:
        parse("multipart/form-data; boundary=b", twice)
    assert raised.value.code == "invalid_multipart"
