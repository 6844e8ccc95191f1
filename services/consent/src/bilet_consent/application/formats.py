"""What a signed consent document may be, and what is kept of it.

A PDF, JPEG or PNG by its first bytes (`media_type_of`: the cheap first gate; its name and
declared type do not count). Past that gate nothing of the upload is trusted or kept: the
document is decoded to pixels in a sandboxed process and a clean copy is rebuilt from the pixels
only (content disarm and reconstruction, ADR 0015; the port is `documents.DocumentDisarmer`).
`DisarmLimits` are the limits of that decoding; `REFUSALS` are the reasons a decoder may give,
each with the words a school can act on (a decoder's own text never reaches the answer).
"""

from dataclasses import dataclass
from typing import Final

PDF: Final = "application/pdf"
JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
MEDIA_TYPES: Final = (PDF, JPEG, PNG)

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"


def media_type_of(content: bytes) -> str | None:
    """The type the content claims by its first bytes; None for anything else (executables,
    HTML, ZIP, office files…)."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(PNG_SIGNATURE):
        return PNG
    return None


def pdf_file(objects: list[bytes], *, header: bytes = b"%PDF-1.4\n", trailer: bytes = b"") -> bytes:
    """A PDF of these object bodies (numbered from 1, the first the catalog), with a
    cross-reference table and a trailer (`trailer` adds keys to it): how the rebuilt copies (and
    the tests' documents) are written."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer,
        xref,
    )
    return bytes(out)


@dataclass(frozen=True)
class DisarmLimits:
    """How far a document is decoded: a PDF's pages are rendered at `dpi`; no page or image
    may have more than `max_pixels` pixels, no PDF more than `max_pages` pages."""

    dpi: int = 150
    max_pages: int = 20
    max_pixels: int = 40_000_000


_RESCAN: Final = (
    " Scan the signed form again (or save it from the scanner's software as a new file) and "
    "upload that file."
)
REFUSALS: Final[dict[str, str]] = {
    "damaged": "The file cannot be read as the PDF, JPEG or PNG it starts as: it is damaged or "
    "not a document." + _RESCAN,
    "encrypted": "The PDF is encrypted or password-protected: save it without protection and "
    "upload it again.",
    "no_pages": "The PDF has no pages." + _RESCAN,
    "too_many_pages": "The PDF has more pages than a consent form may have ({max_pages}).",
    "too_many_pixels": "A page or image is larger than {megapixels} megapixels: scan it at "
    "150–300 dpi.",
}
UNPROCESSABLE: Final = (
    "The document could not be processed safely (it took too long or too much memory to read)."
    + _RESCAN
)


def refusal_detail(reason: str, limits: DisarmLimits) -> str:
    """The words for a decoder's reason; the generic refusal for a reason nobody knows."""
    template = REFUSALS.get(reason)
    if template is None:
        return UNPROCESSABLE
    return template.format(max_pages=limits.max_pages, megapixels=limits.max_pixels // 10**6)
