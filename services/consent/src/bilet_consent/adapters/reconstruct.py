"""The sandboxed half of content disarm and reconstruction: decode an upload to pixels with a
well-kept decoder and rebuild a clean document from the pixels only.

Run only inside `bilet.sandbox` (limited CPU, memory, no file writes, no inherited environment),
by `adapters.disarm`: `python -m bilet.sandbox … bilet_consent.adapters.reconstruct MEDIA_TYPE
DPI MAX_PAGES MAX_PIXELS`, the upload on standard input. It answers on standard output with one
JSON line, then (exit code 0) the rebuilt document, or (exit code `REFUSED`) nothing more: the
line names the reason (`formats.REFUSALS`). Any other ending (a crash, a limit) is a refusal too.

- **PDF**: PDFium (pypdfium2) opens it, with no form environment (no scripts, no XFA); each page
  is rendered at the fixed DPI and the PDF is written anew by `_pdf_of_pages`: one JPEG image per
  page, nothing else (no actions, names, attachments, metadata, text or fonts).
- **JPEG, PNG**: Pillow reads the header, the size is checked before a pixel is decoded, and the
  pixels (EXIF orientation applied) are copied into a new image with no metadata and encoded anew.
"""

import io
import json
import sys
from typing import Final

import pypdfium2
from PIL import Image, ImageOps

from bilet_consent.adapters.disarm import REFUSED
from bilet_consent.application.formats import JPEG, PDF, PNG, pdf_file

JPEG_QUALITY: Final = 88


class Refusal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise Refusal("damaged")
    if width * height > max_pixels:
        raise Refusal("too_many_pixels")


def _clean_copy(image: Image.Image, mode: str) -> Image.Image:
    """The pixels alone, in a new image: no metadata, profile, comment or chunk comes along.
    (Each intermediate is dropped as soon as it is copied: a 40 MP page is 120 MB a copy.)"""
    converted = image.convert(mode)
    size, data = converted.size, converted.tobytes()
    del converted
    return Image.frombytes(mode, size, data)


def _jpeg_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return out.getvalue()


def rebuild_image(content: bytes, media_type: str, max_pixels: int) -> bytes:
    """A JPEG or PNG re-encoded from its pixels."""
    expected = "JPEG" if media_type == JPEG else "PNG"
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own bomb guard, behind the check below
    try:
        with Image.open(io.BytesIO(content), formats=[expected]) as image:
            _check_pixels(*image.size, max_pixels)  # from the header: nothing decoded yet
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refusal("too_many_pixels") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise Refusal("damaged") from None
    if media_type == JPEG:
        return _jpeg_bytes(_clean_copy(upright, "L" if upright.mode in ("1", "L") else "RGB"))
    alpha = "A" in upright.getbands() or "transparency" in upright.info
    mode = "L" if upright.mode in ("1", "L", "I", "I;16", "F") else "RGBA" if alpha else "RGB"
    out = io.BytesIO()
    _clean_copy(upright, mode).save(out, "PNG")
    return out.getvalue()


def rebuild_pdf(content: bytes, dpi: int, max_pages: int, max_pixels: int) -> tuple[bytes, int]:
    """A PDF of the pages' pictures, and how many pages it has."""
    try:
        document = pypdfium2.PdfDocument(content)
    except pypdfium2.PdfiumError as error:
        raise Refusal("encrypted" if "password" in str(error).lower() else "damaged") from None
    try:
        count = len(document)
        if count < 1:
            raise Refusal("no_pages")
        if count > max_pages:
            raise Refusal("too_many_pages")
        pages = []
        scale = dpi / 72
        for index in range(count):
            page = document[index]
            width, height = page.get_size()  # points
            _check_pixels(round(width * scale), round(height * scale), max_pixels)
            bitmap = page.render(scale=scale, may_draw_forms=False)
            rendered = bitmap.to_pil().convert("RGB")
            bitmap.close()
            picture = _clean_copy(rendered, "RGB")
            del rendered
            pages.append((picture.width, picture.height, _jpeg_bytes(picture)))
            del picture
            page.close()
    except pypdfium2.PdfiumError:
        raise Refusal("damaged") from None
    finally:
        document.close()
    return _pdf_of_pages(pages, dpi), count


def _pdf_of_pages(pages: list[tuple[int, int, bytes]], dpi: int) -> bytes:
    """A PDF 1.4 of one full-page JPEG image per page, at `dpi`: every byte but the images' is
    written here, from numbers only."""
    objects: list[bytes] = [b"", b""]  # 1: the catalog, 2: the page tree (filled in below)
    kids = []
    for width, height, jpeg in pages:
        page_width, page_height = width * 72 / dpi, height * 72 / dpi
        image_number = len(objects) + 1
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
            % (width, height, len(jpeg), jpeg)
        )
        drawing = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (page_width, page_height)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(drawing), drawing))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /XObject << /Im0 %d 0 R >> >> >>"
            % (page_width, page_height, image_number + 1, image_number)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return pdf_file(objects, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")


def rebuild(content: bytes, media_type: str, dpi: int, max_pages: int, max_pixels: int) -> bytes:
    if media_type == PDF:
        rebuilt, pages = rebuild_pdf(content, dpi, max_pages, max_pixels)
    elif media_type in (JPEG, PNG):
        rebuilt, pages = rebuild_image(content, media_type, max_pixels), 1
    else:
        raise Refusal("damaged")
    header = json.dumps({"media_type": media_type, "pages": pages}).encode()
    return header + b"\n" + rebuilt


def main(argv: list[str]) -> int:
    media_type, dpi, max_pages, max_pixels = argv
    content = sys.stdin.buffer.read()
    try:
        answer = rebuild(content, media_type, int(dpi), int(max_pages), int(max_pixels))
    except Refusal as refusal:
        sys.stdout.buffer.write(json.dumps({"refused": refusal.reason}).encode() + b"\n")
        return REFUSED
    sys.stdout.buffer.write(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
