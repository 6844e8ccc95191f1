"""Documents: type by content, structure walked (PNG chunks, JPEG segments, PDF without active
content), size limit, encryption bound to participant and document."""

import zlib
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
    UnacceptableDocument,
    UnsupportedDocument,
)
from bilet_consent.application.formats import PNG_SIGNATURE
from bilet_consent.demo import demo_document
from bilet_consent.testing import JPEG, PNG, one_page_pdf, pdf_document, pdf_stream, png_chunk
from bilet_consent.testing import PDF as TEST_PDF

PDF = b"%PDF-1.7\n...\n%%EOF\n"
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 48 + b"PE\x00\x00"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
JS_ACTION = b"<< /S /JavaScript /JS (app.alert(1)) >>"


def _catalog(extra: bytes) -> bytes:
    return b"<< /Type /Catalog /Pages 2 0 R " + extra + b" >>"


def _pdf_with(*objects: bytes, trailer: bytes = b"") -> bytes:
    return pdf_document(*objects, trailer=trailer)


def _opening(action: bytes, *more: bytes) -> bytes:
    """A PDF whose catalog has `/OpenAction action` (and more objects after its pages)."""
    return _pdf_with(_catalog(b"/OpenAction " + action), PAGES, *more)


def _with_stream(dictionary: bytes, data: bytes) -> bytes:
    return _pdf_with(_catalog(b""), PAGES, pdf_stream(dictionary, data))


def _object_stream(body: bytes, *, compressed: bool) -> bytes:
    """An object stream holding object 9 (`body`)."""
    header = b"9 0 "
    data = header + body
    dictionary = b"/Type /ObjStm /N 1 /First %d" % len(header)
    if compressed:
        return pdf_stream(dictionary + b" /Filter /FlateDecode", zlib.compress(data))
    return pdf_stream(dictionary, data)


PAGES = b"<< /Type /Pages /Kids [] /Count 0 >>"


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, "application/pdf"),
        (TEST_PDF, "application/pdf"),
        (one_page_pdf(), "application/pdf"),
        (demo_document(uuid4()), "application/pdf"),
        (_pdf_with(_catalog(b"/OpenAction [3 0 R /Fit]"), PAGES), "application/pdf"),
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
    ],
)
def test_real_minimal_documents_are_accepted(content: bytes, media_type: str) -> None:
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


PNG_IHDR = PNG[8 : 8 + 25]
PNG_IEND = png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        # The reviewer's evasions: an executable behind a JPEG's first bytes, HTML behind a PNG's.
        (b"\xff\xd8\xff" + MZ, "segment"),
        (PNG_SIGNATURE + HTML, "chunk"),
        (PNG_SIGNATURE + PNG_IHDR + HTML, "chunk"),
        # Something appended after a real image.
        (JPEG + MZ, "follow the end of the image"),
        (JPEG + b"\xff\xd9", "follow the end of the image"),
        (PNG + HTML, "follow its end chunk"),
        # Damaged or cut short.
        (JPEG[:-2], "end"),
        (JPEG[:40], "segment runs past"),
        (PNG[:-12], "cut short"),
        (PNG[:30] + bytes([PNG[30] ^ 1]) + PNG[31:], "checksum"),
        (PNG_SIGNATURE + png_chunk(b"tEXt", b"a\x00b") + PNG[8:], "first chunk"),
        (PNG_SIGNATURE + PNG_IHDR + PNG_IEND, "no image data"),
        (JPEG.replace(b"\xff\xc0\x00\x0b", b"\xff\xfe\x00\x0b"), "before the image header"),
    ],
)
def test_images_are_walked_to_their_end(content: bytes, why: str) -> None:
    with pytest.raises(UnacceptableDocument) as raised:
        check_document(content, 1 << 20)
    assert why in raised.value.message


@pytest.mark.parametrize(
    ("content", "names"),
    [
        # The reviewer's evasion: a script run on opening.
        (_pdf_with(_catalog(b"/OpenAction " + JS_ACTION), PAGES), "/JS, /JavaScript"),
        # A name spelled with #xx escapes is the same name.
        (_pdf_with(_catalog(b"/OpenAction << /S /J#61vaScript /J#53 (x) >>"), PAGES), "/JS"),
        (_pdf_with(_catalog(b"/OpenAction << /S /#4c#61unch /F (calc.exe) >>"), PAGES), "/Launch"),
        (_pdf_with(_catalog(b"/AA << /O 3 0 R >>"), PAGES, JS_ACTION), "/AA"),
        (_pdf_with(_catalog(b"/AcroForm << /XFA 3 0 R >>"), PAGES, b"[]"), "/XFA"),
        (_pdf_with(_catalog(b"/OpenAction << /S /SubmitForm >>"), PAGES), "/SubmitForm"),
        (_pdf_with(_catalog(b"/OpenAction << /S /ImportData >>"), PAGES), "/ImportData"),
        (_pdf_with(_catalog(b""), PAGES, b"<< /Subtype /RichMedia >>"), "/RichMedia"),
        (
            _pdf_with(_catalog(b""), PAGES, pdf_stream(b"/Type /EmbeddedFile", MZ)),
            "/EmbeddedFile",
        ),
        # Inside object streams, compressed or not: actions may live there since PDF 1.5.
        (_opening(b"9 0 R", _object_stream(JS_ACTION, compressed=True)), "/JS"),
        (_opening(b"9 0 R", _object_stream(JS_ACTION, compressed=False)), "/JS"),
        # In the plain data of a stream, and in a "stream" that is no stream (no filter).
        (_with_stream(b"", b"<< /S /JavaScript >>"), "/JavaScript"),
    ],
)  # fmt: skip
def test_pdfs_with_active_content_are_refused(content: bytes, names: str) -> None:
    with pytest.raises(UnacceptableDocument) as raised:
        check_document(content, 1 << 20)
    assert "active content" in raised.value.message
    assert names in raised.value.message


HIDDEN = b"9 0 obj\n" + JS_ACTION + b"\nendobj\n"
OBJSTM = b"/Type /ObjStm /N 1 /First 4 "


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"%PDF-1.4 but never finished", "does not end like a PDF"),
        (b"%PDF-2.0\n" + TEST_PDF[9:], "does not start with a PDF 1.x header"),
        (TEST_PDF + b"\x00" * 2048, "does not end like a PDF"),
        (TEST_PDF + MZ * 20, "does not end like a PDF"),
        # An object hidden in a stream's data (reachable by the cross-reference table), whether the
        # stream claims compression or not, and compressed data that is not.
        (_with_stream(b"/Filter /FlateDecode", HIDDEN), "hides objects"),
        (_with_stream(b"", HIDDEN), "hides objects"),
        (_with_stream(b"/Filter /FlateDecode", b"<< /S /JavaScript >>"), "does not decompress"),
        (_with_stream(b"/Filter /DCTDecode", b"<< /S /JavaScript >>"), "not the JPEG"),
        # What cannot be checked is refused rather than skipped.
        (_with_stream(OBJSTM + b"/Filter /LZWDecode", b"x"), "cannot be checked"),
        (_with_stream(OBJSTM + b"/Filter 7 0 R", b"x"), "cannot be checked"),
        (_with_stream(OBJSTM + b"/Filter /FlateDecode /DecodeParms << >>", b"x"), "cannot be"),
        (_pdf_with(_catalog(b"/X (/ObjStm)"), PAGES), "object stream"),
        (_pdf_with(_catalog(b""), PAGES, trailer=b"/Encrypt << /Filter /Std >> "), "encrypted"),
        (_pdf_with(_catalog(b"/Title (never closed"), PAGES), "string never ends"),
    ],
)  # fmt: skip
def test_pdfs_that_cannot_be_trusted_are_refused(content: bytes, why: str) -> None:
    with pytest.raises(UnacceptableDocument) as raised:
        check_document(content, 1 << 20)
    assert why in raised.value.message


def test_a_forbidden_name_in_compressed_image_data_is_not_a_false_alarm() -> None:
    # Compressed binary may hold the bytes `/JS` by chance; such data is not read as names.
    chance = b"\x00\x17/JS \x9c/AA]\x01" * 10
    content = _pdf_with(
        _catalog(b""), PAGES, pdf_stream(b"/Filter /FlateDecode", zlib.compress(b"x") + chance)
    )
    assert check_document(content, 1 << 20) == "application/pdf"


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
