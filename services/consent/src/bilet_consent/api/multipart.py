"""A strict `multipart/form-data` reader for the one upload route.

The request guard (`bilet.http.guard`) has already refused a body over the route's limit (413,
without reading past it) and handed the rest over in memory, so the parts are cut out of bytes:
no temporary files, nothing written to disk before the document is encrypted.
"""

import re
from dataclasses import dataclass, field
from typing import Final

from bilet.http.problems import Problem

MAX_PARTS: Final = 8
MAX_HEADER_BYTES: Final = 2048
_BOUNDARY: Final = re.compile(r'boundary=(?:"([^"]{1,70})"|([^";\s]{1,70}))', re.IGNORECASE)
_NAME: Final = re.compile(r'(?:^|;)\s*name="([^"]{1,64})"', re.IGNORECASE)
_FILENAME: Final = re.compile(r'(?:^|;)\s*filename="([^"]{0,255})"', re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes = field(repr=False)
    filename: str | None = None
    content_type: str | None = None


def invalid_form(detail: str) -> Problem:
    return Problem(400, "invalid_multipart", "Invalid multipart body", detail)


def boundary_of(content_type: str | None) -> bytes:
    if content_type is None or not content_type.lower().startswith("multipart/form-data"):
        raise Problem(
            415,
            "unsupported_media_type",
            "Unsupported media type",
            "Send the consent as multipart/form-data: a `consent` field and a `document` file.",
        )
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise invalid_form("The multipart body names no boundary.")
    return (match[1] or match[2]).encode("latin-1")


def _headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if not colon:
            raise invalid_form("A part header is malformed.")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("utf-8", "replace")
    return headers


def parse(content_type: str | None, body: bytes) -> dict[str, Part]:
    """The parts by field name; a field given twice, a part without a name, an unterminated body
    or more than `MAX_PARTS` parts are refused (400 `invalid_multipart`)."""
    boundary = boundary_of(content_type)
    delimiter = b"--" + boundary
    start = body.find(delimiter)
    if start < 0:
        raise invalid_form("The body does not contain its boundary.")
    cursor = start + len(delimiter)
    parts: dict[str, Part] = {}
    while True:
        if body.startswith(b"--", cursor):
            return parts  # the closing delimiter
        if not body.startswith(b"\r\n", cursor):
            raise invalid_form("A boundary is not followed by a line break.")
        cursor += 2
        header_end = body.find(b"\r\n\r\n", cursor, cursor + MAX_HEADER_BYTES)
        if header_end < 0:
            raise invalid_form("A part's headers do not end.")
        headers = _headers(body[cursor:header_end])
        data_start = header_end + 4
        data_end = body.find(b"\r\n" + delimiter, data_start)
        if data_end < 0:
            raise invalid_form("The body ends inside a part.")
        disposition = headers.get("content-disposition", "")
        name = _NAME.search(disposition)
        if not disposition.lower().startswith("form-data") or name is None:
            raise invalid_form("Every part is form-data with a name.")
        if name[1] in parts:
            raise invalid_form(f"The field {name[1]!r} is given twice.")
        if len(parts) >= MAX_PARTS:
            raise invalid_form(f"At most {MAX_PARTS} parts.")
        filename = _FILENAME.search(disposition)
        parts[name[1]] = Part(
            name[1],
            body[data_start:data_end],
            filename[1] if filename else None,
            headers.get("content-type"),
        )
        cursor = data_end + 2 + len(delimiter)
