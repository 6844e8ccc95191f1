"""What a signed consent document may be: a PDF, JPEG or PNG whose structure holds, checked with
the standard library only (no parser of ours runs the content, nothing is rendered).

- **PNG**: the signature, then every chunk walked with its CRC-32 checked; `IHDR` first, at least
  one `IDAT`, `IEND` last and at the very end of the file.
- **JPEG**: `SOI`, then every marker segment walked by its length up to each `SOS`, the entropy-
  coded data crossed (stuffed `FF 00` and restart markers), a frame header (`SOFn`) before the
  first scan, and `EOI` (`FF D9`) as the last two bytes: nothing may follow the image.
- **PDF**: a `%PDF-1.x` header at the first byte, `%%EOF` within the last 1 KiB, not encrypted,
  and no active content: the names `/JS`, `/JavaScript`, `/Launch`, `/EmbeddedFile(s)`, `/EF`,
  `/RichMedia`, `/XFA`, `/AA`, `/SubmitForm` and `/ImportData` are refused wherever they appear
  outside stream data, after `#xx` escapes in names are decoded (`/J#61vaScript` is
  `/JavaScript`).

What the PDF scan reads, and why. Every byte outside stream data (dictionaries, arrays, strings
and comments alike: a reader that follows a cross-reference offset may parse an object where a
sequential reading sees a string or a comment). The data of streams without a filter (plain text:
page contents, metadata, uncompressed object streams). And the decoded content of object streams
(`/Type /ObjStm`, `/FlateDecode`, bounded), because since PDF 1.5 dictionaries, actions included,
may live there. The data of other compressed streams (images, fonts, compressed page contents) is
not scanned: it is binary in which three bytes such as `/JS` occur by chance in a few percent of
multi-megabyte scans, and no action dictionary can live in it. What keeps that gap closed:
- a stream starts only after a dictionary (`>> stream`), and its data ends at the first
  `endstream`, so the region skipped is the smallest a reader could take for data;
- no stream's data may hold an indirect object header (`12 0 obj`): an object hidden where the
  scan does not look, but reachable through the cross-reference table;
- a `/FlateDecode` stream's data must inflate, a `/DCTDecode` one must start as a JPEG: a region
  the scan skips is really compressed data, not objects passed off as a stream;
- every `/ObjStm` named must be an object stream the scan decoded (one it failed to recognise is
  refused, not skipped); an object stream with another filter, decode parameters, or an indirect
  `/Filter` cannot be checked and is refused. An encrypted PDF is refused for the same reason.
"""

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from bilet_consent.application.errors import UnacceptableDocument

PDF: Final = "application/pdf"
JPEG: Final = "image/jpeg"
PNG: Final = "image/png"

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_RESCAN: Final = (
    " Scan the signed form again (or save it from the scanner's software as a new file) and "
    "upload that file as it is."
)


def media_type_of(content: bytes) -> str | None:
    """The type the content claims by its first bytes (its name and declared type do not
    count); None for anything else (executables, HTML, ZIP, office files…)."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(PNG_SIGNATURE):
        return PNG
    return None


def check_structure(media_type: str, content: bytes) -> None:
    """Raise `UnacceptableDocument` unless the content is a well-formed file of its type."""
    _CHECKS[media_type](content)


# ---------------------------------------------------------------------- PNG
def _check_png(content: bytes) -> None:
    def bad(why: str) -> UnacceptableDocument:
        return UnacceptableDocument(f"The PNG image is not a complete, undamaged PNG: {why}.")

    end = len(content)
    position = len(PNG_SIGNATURE)
    first, images = True, 0
    while True:
        if position + 12 > end:
            raise bad("it is cut short before its end chunk (IEND)" + _RESCAN)
        length = int.from_bytes(content[position : position + 4], "big")
        kind = content[position + 4 : position + 8]
        data_end = position + 8 + length
        if length > 0x7FFFFFFF or data_end + 4 > end:
            raise bad("a chunk runs past the end of the file" + _RESCAN)
        if not kind.isalpha() or not kind.isascii():
            raise bad("a chunk has no valid type" + _RESCAN)
        crc = int.from_bytes(content[data_end : data_end + 4], "big")
        if zlib.crc32(content[position + 4 : data_end]) != crc:
            raise bad(f"the checksum of a {kind.decode()} chunk is wrong (damaged data)" + _RESCAN)
        if first and (kind != b"IHDR" or length != 13):
            raise bad("its first chunk is not the image header (IHDR)")
        if not first and kind == b"IHDR":
            raise bad("it has a second image header")
        first = False
        images += kind == b"IDAT"
        position = data_end + 4
        if kind == b"IEND":
            if length != 0 or not images:
                raise bad("it has no image data before its end chunk")
            if position != end:
                raise bad(
                    f"{end - position} bytes follow its end chunk (IEND); a file must not carry "
                    "anything after the image"
                )
            return


# ---------------------------------------------------------------------- JPEG
_SOF: Final = frozenset(
    {*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), 0xCD, 0xCE, 0xCF}
)
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0..7


def _check_jpeg(content: bytes) -> None:
    def bad(why: str) -> UnacceptableDocument:
        return UnacceptableDocument(f"The JPEG image is not a complete, undamaged JPEG: {why}.")

    end = len(content)
    position = 2  # after SOI
    frame = False
    while True:
        if position >= end or content[position] != 0xFF:
            raise bad("a segment does not start where the previous one ends" + _RESCAN)
        while position < end and content[position] == 0xFF:
            position += 1  # fill bytes before a marker
        if position >= end:
            raise bad("it ends without its end-of-image marker" + _RESCAN)
        marker = content[position]
        position += 1
        if marker == 0xD9:  # EOI
            if position != end:
                raise bad(
                    f"{end - position} bytes follow the end of the image (some phones append a "
                    "video or a second picture): export or scan it as a plain JPEG"
                )
            if not frame:
                raise bad("it has no image in it")
            return
        if marker in _STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise bad("a marker is out of place" + _RESCAN)
        if position + 2 > end:
            raise bad("it is cut short" + _RESCAN)
        length = int.from_bytes(content[position : position + 2], "big")
        if length < 2 or position + length > end:
            raise bad("a segment runs past the end of the file" + _RESCAN)
        position += length
        if marker in _SOF:
            frame = True
        if marker == 0xDA:  # SOS: the entropy-coded data follows, up to the next real marker
            if not frame:
                raise bad("the image data comes before the image header")
            position = _after_scan(content, position)
            if position < 0:
                raise bad("its image data never ends (no end-of-image marker)" + _RESCAN)


def _after_scan(content: bytes, position: int) -> int:
    """Where the marker after a scan's entropy-coded data is; -1 if there is none."""
    end = len(content)
    while True:
        found = content.find(b"\xff", position)
        if found < 0 or found + 1 >= end:
            return -1
        following = content[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffed 0xFF, restart marker
            position = found + 2
        elif following == 0xFF:
            position = found + 1  # a fill byte: the marker comes after
        else:
            return found


# ---------------------------------------------------------------------- PDF
_PDF_HEADER: Final = re.compile(rb"%PDF-1\.[0-9]")
ACTIVE_NAMES: Final = frozenset(
    {
        b"JS",
        b"JavaScript",
        b"Launch",
        b"EmbeddedFile",
        b"EmbeddedFiles",
        b"EF",
        b"RichMedia",
        b"XFA",
        b"AA",
        b"SubmitForm",
        b"ImportData",
    }
)
# What the lexer stops at outside stream data: a literal string, a comment, a dictionary's start
# (taken whole, so that its second `<` is not a hex string), a hex string, or a stream: the
# keyword `stream` right after a dictionary's end.
_LEXEME: Final = re.compile(rb"\(|%|<<|<|>>[\x00\t\n\x0c\r ]*stream[ \t]*(?:\r\n|\n|\r)")
_NAME: Final = re.compile(rb"/([^\x00\t\n\x0c\r /()<>\[\]{}%]*)")
_ESCAPE: Final = re.compile(rb"#([0-9A-Fa-f]{2})")
_OBJECT_HEADER: Final = re.compile(
    rb"(?<![0-9])[0-9]{1,10}[\x00\t\n\x0c\r ]+[0-9]{1,5}[\x00\t\n\x0c\r ]+obj(?![A-Za-z0-9])"
)
_FILTER: Final = re.compile(
    rb"/Filter[\x00\t\n\x0c\r ]*(\[[^\]]*\]|/[^\x00\t\n\x0c\r /()<>\[\]{}%]*)"
)
MAX_OBJECT_STREAM_BYTES: Final = 16 << 20
_EOF_WINDOW: Final = 1024
_REPRINT: Final = (
    " Print the signed form to a plain PDF, or scan the paper form, and upload that file."
)


PROBE_BYTES: Final = 1 << 16  # of a compressed stream inflated to see that it is one


@dataclass(frozen=True)
class _Stream:
    dictionary: bytes  # the bytes from the object's header to the `stream` keyword
    data: bytes

    @property
    def names(self) -> set[bytes]:
        return set(_names(self.dictionary))

    def filters(self) -> list[bytes] | None:
        """The stream's filters by name; None when they cannot be read (an indirect value)."""
        found = _FILTER.search(self.dictionary)
        if found is None:
            return None if b"Filter" in self.names else []
        return list(_names(found[1]))


def _names(text: bytes) -> Iterator[bytes]:
    """The names in some PDF text, `#xx` escapes decoded."""
    for match in _NAME.finditer(text):
        yield _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), match[1])


def _string_end(content: bytes, position: int) -> int:
    """The position after the literal string that started before `position`; -1 if unclosed."""
    depth = 1
    end = len(content)
    while position < end:
        found = _STRING_STOP.search(content, position)
        if found is None:
            return -1
        char = found[0]
        position = found.end()
        if char == b"\\":
            position += 1  # whatever is escaped, even a parenthesis or a line break
        elif char == b"(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return position
    return -1


_STRING_STOP: Final = re.compile(rb"[()\\]")


def _split(content: bytes) -> tuple[list[bytes], list[_Stream]]:
    """The PDF's text outside stream data (in pieces), and its streams."""

    def bad(why: str) -> UnacceptableDocument:
        return UnacceptableDocument(f"The PDF is damaged: {why}." + _REPRINT)

    outside: list[bytes] = []
    streams: list[_Stream] = []
    piece = position = 0
    while True:
        found = _LEXEME.search(content, position)
        if found is None:
            break
        lexeme = found[0]
        if lexeme == b"(":
            position = _string_end(content, found.end())
            if position < 0:
                raise bad("a text string never ends")
        elif lexeme == b"%":
            line_end = re.compile(rb"[\r\n]").search(content, found.end())
            position = len(content) if line_end is None else line_end.end()
        elif lexeme == b"<<":
            position = found.end()
        elif lexeme == b"<":
            closing = content.find(b">", found.end())
            if closing < 0:
                raise bad("a hexadecimal string never ends")
            position = closing + 1
        else:
            data_end = content.find(b"endstream", found.end())
            if data_end < 0:
                raise bad("a stream never ends")
            header = content.rfind(b"obj", piece, found.start())
            outside.append(content[piece : found.end()])
            streams.append(
                _Stream(
                    content[(header if header >= 0 else piece) : found.start()],
                    content[found.end() : data_end],
                )
            )
            piece = position = data_end
    outside.append(content[piece:])
    return outside, streams


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the data inflated, and whether there was more."""
    inflater = zlib.decompressobj()
    try:
        return inflater.decompress(data, limit), bool(inflater.unconsumed_tail)
    except zlib.error:
        raise UnacceptableDocument(
            "The PDF is damaged: a compressed part does not decompress." + _REPRINT
        ) from None


def _readable(stream: _Stream) -> bytes | None:
    """What of a stream's data the scan reads: plain data as it is, an object stream decoded;
    None for compressed data that is checked to be what its filter says."""
    filters = stream.filters()
    cannot = UnacceptableDocument(
        "The PDF keeps some of its content in a form that cannot be checked." + _REPRINT
    )
    if filters is None:
        raise cannot
    if b"ObjStm" in stream.names:
        if filters not in ([], [b"FlateDecode"]) or stream.names & {b"DecodeParms", b"DP"}:
            raise cannot
        if not filters:
            return stream.data
        decoded, more = _inflate(stream.data, MAX_OBJECT_STREAM_BYTES)
        if more:
            raise cannot
        return decoded
    if not filters:
        return stream.data
    if filters[0] == b"FlateDecode":
        _inflate(stream.data, PROBE_BYTES)  # a stream, not objects passed off as one
    elif filters[0] == b"DCTDecode" and not stream.data.startswith(b"\xff\xd8"):
        raise UnacceptableDocument(
            "The PDF is damaged: an image in it is not the JPEG it says it is." + _REPRINT
        )
    return None


def _check_pdf(content: bytes) -> None:
    if not _PDF_HEADER.match(content):
        raise UnacceptableDocument(
            "The file does not start with a PDF 1.x header (%PDF-1.x)." + _REPRINT
        )
    if b"%%EOF" not in content[-_EOF_WINDOW:]:
        raise UnacceptableDocument(
            "The PDF does not end like a PDF (%%EOF within its last 1 KiB): it is cut short, or "
            "something was appended to it." + _REPRINT
        )
    outside, streams = _split(content)
    for stream in streams:
        if _OBJECT_HEADER.search(stream.data):
            raise UnacceptableDocument(
                "The PDF hides objects inside the data of a stream." + _REPRINT
            )
    names = [name for text in outside for name in _names(text)]
    if names.count(b"ObjStm") != sum(b"ObjStm" in s.names for s in streams):
        raise UnacceptableDocument(
            "The PDF's structure cannot be read reliably (an object stream is malformed)."
            + _REPRINT
        )
    for stream in streams:
        readable = _readable(stream)
        if readable is not None:
            names.extend(_names(readable))
    if b"Encrypt" in names:
        raise UnacceptableDocument(
            "The PDF is encrypted or password-protected: save it without protection." + _REPRINT
        )
    if active := sorted({name.decode("latin-1") for name in names if name in ACTIVE_NAMES}):
        raise UnacceptableDocument(
            "The PDF contains active content (scripts, embedded files, actions that run or "
            f"submit something): /{', /'.join(active)}. A consent form needs none of it." + _REPRINT
        )


_CHECKS: Final[dict[str, Callable[[bytes], None]]] = {
    PDF: _check_pdf,
    JPEG: _check_jpeg,
    PNG: _check_png,
}
