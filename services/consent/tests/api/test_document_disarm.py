"""Content disarm and reconstruction through the API (issue 12, ADR 0015): a corpus of hostile
PDFs, JPEGs and PNGs made here (actions, polyglots, bombs), each either refused with a problem+json
415 `unsupported_document` or stored as a copy rebuilt from its pixels in which nothing of the
payload survives; good scans accepted and their copies decodable; the service's health probe
answering while a bomb is being decoded."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import pypdfium2
import pytest
from PIL import Image, ImageDraw

from bilet.sandbox import Sandbox, SandboxLimits
from bilet_consent.adapters.disarm import SandboxedDisarmer
from bilet_consent.application.errors import UnacceptableDocument
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import JPEG, PNG, one_page_pdf, pdf_document, pdf_stream, png_chunk

if TYPE_CHECKING:
    from services.consent.tests.conftest import Api

PAYLOAD: Final = b"PAYLOAD-c0ffee"
SCRIPT: Final = b"<html><body><script>alert('" + PAYLOAD + b"')</script></body></html>"
JS_ACTION: Final = b"<< /S /JavaScript /JS (app.alert('" + PAYLOAD + b"')) >>"
MIB: Final = 1 << 20


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., ConsentSettings]:
    """The consent fixtures' settings with a tight sandbox, so that a bomb is cut off soon."""

    def make(**overrides: Any) -> ConsentSettings:
        tight = {"consent_sandbox_cpu_seconds": 3, "consent_sandbox_timeout_seconds": 10}
        return ConsentSettings(var_dir=tmp_path / "var", **{**tight, **overrides})

    return make


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("payload.html", SCRIPT)
    return out.getvalue()


ZIP: Final = _zip()


def _pdf(
    catalog: bytes = b"", page: bytes = b"", *more: bytes, box: bytes = b"0 0 595 842"
) -> bytes:
    """A one-page PDF with text; `catalog` and `page` add keys, `more` objects from number 6."""
    return pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [" + box + b"] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> " + page + b" >>",
        pdf_stream(b"", b"BT /F1 12 Tf 40 800 Td (Soglasie) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *more,
    )


def _pages(count: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (3 + n) for n in range(count))
    pages = [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"] * count
    return pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        *pages,
    )


def _object_stream(body: bytes, *, padding: int = 0) -> bytes:
    """An object stream holding object 99 (`body`), compressed, inflating to `padding` more."""
    data = b"99 0 " + body + b" " * padding
    return pdf_stream(b"/Type /ObjStm /N 1 /First 5 /Filter /FlateDecode", zlib.compress(data, 9))


def _nested_forms(levels: int = 12, fanout: int = 10) -> bytes:
    """A 3 KB page drawing a form that draws another ten times, twelve levels deep."""
    forms = []
    for level in range(levels):
        last = level == levels - 1
        resources = b"" if last else b"/Resources << /XObject << /X %d 0 R >> >> " % (7 + level)
        body = b"0 0 m 500 800 l S" if last else b" ".join([b"/X Do"] * fanout)
        forms.append(
            pdf_stream(b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] " + resources, body)
        )
    return pdf_document(
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /X 6 0 R >> >> >>",
        pdf_stream(b"", b"/X Do"),
        b"<< >>",
        *forms,
    )


def _jpeg_with(segment: int, data: bytes) -> bytes:
    """The test JPEG with one more segment (`FF segment`) right after its start."""
    return JPEG[:2] + bytes([0xFF, segment]) + (len(data) + 2).to_bytes(2, "big") + data + JPEG[2:]


def _png_with(*chunks: bytes) -> bytes:
    """The test PNG with more chunks before its end chunk."""
    end = PNG.rindex(b"IEND") - 4
    return PNG[:end] + b"".join(chunks) + PNG[end:]


def _png_header(width: int, height: int, idat: bytes) -> bytes:
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return PNG[:8] + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


HOSTILE: Final = {
    # PDF actions and active content.
    "javascript": _pdf(b"/Names << /JavaScript << /Names [(init) 6 0 R] >> >>", b"", JS_ACTION),
    "open_action": _pdf(b"/OpenAction 6 0 R", b"", JS_ACTION),
    "page_aa": _pdf(b"", b"/AA << /O 6 0 R >>", JS_ACTION),
    "uri": _pdf(
        b"/OpenAction << /S /URI /URI (http://evil.example/" + PAYLOAD + b") >>",
        b"/Annots [6 0 R]",
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 595 842] "
        b"/A << /S /URI /URI (http://evil.example/" + PAYLOAD + b") >> >>",
    ),
    "launch": _pdf(b"/OpenAction << /S /Launch /F (cmd.exe) /P (" + PAYLOAD + b") >>"),
    "gotor": _pdf(b"/OpenAction << /S /GoToR /F (//evil.example/" + PAYLOAD + b".pdf) /D [0] >>"),
    "gotoe": _pdf(b"/OpenAction << /S /GoToE /T << /R /C /N (" + PAYLOAD + b") >> >>"),
    "named": _pdf(b"/OpenAction << /S /Named /N /Print /Next 6 0 R >>", b"", JS_ACTION),
    "embedded_file": _pdf(
        b"/Names << /EmbeddedFiles << /Names [(payload.zip) 6 0 R] >> >>",
        b"",
        b"<< /Type /Filespec /F (payload.zip) /EF << /F 7 0 R >> >>",
        pdf_stream(b"/Type /EmbeddedFile", ZIP),
    ),
    "xfa": _pdf(b"/AcroForm << /Fields [] /XFA 6 0 R >>", b"", pdf_stream(b"", SCRIPT)),
    "action_in_object_stream": _pdf(b"", b"", _object_stream(JS_ACTION)),
    # Polyglots: a second format inside or behind the first.
    "pdf_zip_in_stream": _pdf(b"", b"", pdf_stream(b"", ZIP)),
    "pdf_zip_appended": one_page_pdf() + ZIP + b"\n%%EOF\n",
    "jpeg_comment_html": _jpeg_with(0xFE, SCRIPT),
    "jpeg_comment_zip": _jpeg_with(0xFE, ZIP),
    "jpeg_exif_html": _jpeg_with(0xE1, b"Exif\x00\x00" + SCRIPT),
    "jpeg_zip_appended": JPEG + ZIP,
    "png_private_chunk": _png_with(png_chunk(b"prVt", ZIP + SCRIPT)),
    "png_text_html": _png_with(png_chunk(b"tEXt", b"Comment\x00" + SCRIPT)),
    "png_zip_appended": PNG + ZIP,
    "html_behind_png_signature": PNG[:8] + SCRIPT,
    # Bombs: of pixels, of pages, of deflate, of work.
    "pdf_huge_page": _pdf(box=b"0 0 14400 14400"),
    "pdf_too_many_pages": _pages(21),
    "pdf_object_stream_bomb": _pdf(b"", b"", *[_object_stream(b"<< >>", padding=16 * MIB)] * 4),
    "pdf_nested_forms": _nested_forms(),
    "jpeg_huge_dimensions": JPEG.replace(b"\x00\x01\x00\x01\x01", b"\xea\x60\xea\x60\x01", 1),
    "png_huge_dimensions": _png_header(100_000, 100_000, zlib.compress(b"\x00" * 1024)),
    "png_deflate_bomb": _png_header(20_000, 20_000, zlib.compress(b"\x00" * (64 * MIB), 9)),
    "png_text_bomb": _png_with(
        png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * 64 * MIB, 9))
    ),
}

# What must not survive in a stored copy: the payload, a second format, and (outside the image
# data of a rebuilt PDF) any name of an action, a script, a form, a file or an object stream.
FOREIGN: Final = (PAYLOAD, b"PK\x03\x04", b"<script", b"<html", b"Exif")
ACTIVE_NAME: Final = re.compile(
    rb"/(JS|JavaScript|OpenAction|AA|URI|Launch|GoToR|GoToE|Named|EmbeddedFiles?|EF|XFA|"
    rb"AcroForm|Names|Annots|ObjStm|Filespec)(?![A-Za-z0-9])"
)
STREAM_DATA: Final = re.compile(rb"stream\n.*?\nendstream", re.DOTALL)


async def _submit(api: Api, document: bytes, pupil: str = "dasha") -> Any:
    return await api.submit(api.pupils[pupil], document=document)


async def _stored(api: Api, consent_id: str) -> bytes:
    response = await api.client.get(
        f"/consent/v1/consents/{consent_id}/document", headers=api.registrar()
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_documents_are_refused_or_stored_only_as_an_inert_rebuilt_copy(
    api: Api, name: str
) -> None:
    document = HOSTILE[name]
    response = await _submit(api, document)
    if response.status_code == 415:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unsupported_document"
        assert PAYLOAD.decode() not in response.text
        assert await api.status_of(api.pupils["dasha"]) == "none"  # nothing was changed
        return
    assert response.status_code == 201, response.text
    stored = await _stored(api, response.json()["consent_id"])
    assert stored != document
    for marker in FOREIGN:
        assert marker not in stored, marker
    if stored.startswith(b"%PDF-"):
        outside_images = STREAM_DATA.sub(b"stream endstream", stored)
        assert ACTIVE_NAME.search(outside_images) is None
        assert pypdfium2.PdfDocument(stored)[0].render().to_pil().size  # it renders
    else:
        with Image.open(io.BytesIO(stored)) as image:
            image.load()
            assert set(image.info) <= {"dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density"}


def _scan(size: tuple[int, int] = (850, 1100), mode: str = "RGB") -> Image.Image:
    """A page as a scanner returns it: white paper, lines of dark "text", a blue signature."""
    page = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(page)
    for line in range(60, size[1] - 200, 28):
        draw.rectangle((60, line, size[0] - 80 - line % 150, line + 9), fill="black")
    draw.line((500, size[1] - 150, 700, size[1] - 120), fill="blue", width=4)
    return page


def _encoded(image: Image.Image, kind: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


GOOD: Final = {
    "jpeg_scan": (_encoded(_scan(), "JPEG", quality=85), "image/jpeg", 1),
    "png_scan": (_encoded(_scan(mode="L"), "PNG"), "image/png", 1),
    "pdf_scan": (
        _encoded(_scan(), "PDF", save_all=True, append_images=[_scan()], resolution=100.0),
        "application/pdf",
        2,
    ),
    "pdf_printed": (one_page_pdf("Soglasie na obrabotku"), "application/pdf", 1),
}


@pytest.mark.parametrize("name", sorted(GOOD))
async def test_a_good_scan_is_accepted_and_its_rebuilt_copy_decodes(api: Api, name: str) -> None:
    document, media_type, pages = GOOD[name]
    response = await _submit(api, document)
    assert response.status_code == 201, response.text
    consent_id = response.json()["consent_id"]
    stored = await _stored(api, consent_id)
    if media_type == "application/pdf":
        rebuilt = pypdfium2.PdfDocument(stored)
        assert len(rebuilt) == pages
        picture = rebuilt[0].render().to_pil()
        assert picture.getextrema() != ((255, 255), (255, 255), (255, 255))  # not blank
    else:
        with Image.open(io.BytesIO(stored)) as image, Image.open(io.BytesIO(document)) as original:
            assert image.format == original.format
            assert image.size == original.size
    # The original is not kept; the evidence of which file it was is, with the copy.
    kept = await api.service.documents.get(
        api.pupils["dasha"], UUID(response.json()["document_id"])
    )
    assert kept is not None
    assert kept.original is not None
    assert kept.original.sha256 == hashlib.sha256(document).hexdigest()
    assert kept.original.size == len(document)


async def test_the_health_probe_answers_while_a_bomb_is_being_decoded(api: Api) -> None:
    disarmer = api.service.disarmer
    assert isinstance(disarmer, SandboxedDisarmer)
    upload = asyncio.create_task(_submit(api, HOSTILE["pdf_nested_forms"]))

    async def decoding() -> None:
        while disarmer.sandbox.running == 0 and not upload.done():  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.01)

    await asyncio.wait_for(decoding(), 10)
    assert not upload.done(), "the bomb must still be in the sandbox"
    health = await asyncio.wait_for(api.client.get("/consent/healthz"), 5)
    assert health.status_code == 200
    assert not upload.done()  # the probe answered first
    refused = await asyncio.wait_for(upload, 30)
    assert refused.status_code == 415
    assert refused.json()["code"] == "unsupported_document"


@pytest.mark.parametrize(
    "limits",
    [
        SandboxLimits(memory_bytes=48 << 20),  # the decoder cannot even load: it crashes
        SandboxLimits(wall_seconds=0.05),  # out of time before it answers
        SandboxLimits(max_output_bytes=1024),  # it says more than it may
    ],
)
async def test_a_decoder_that_fails_in_any_way_is_a_refusal_not_an_error(
    limits: SandboxLimits,
) -> None:
    disarmer = SandboxedDisarmer(Sandbox(limits))
    with pytest.raises(UnacceptableDocument) as refused:
        await disarmer.rebuild("application/pdf", one_page_pdf())
    assert refused.value.code == "unsupported_document"
    assert "could not be processed safely" in refused.value.message
