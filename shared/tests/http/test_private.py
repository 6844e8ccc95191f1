"""`make_private` (`bilet.http.private`) gives every answer's start the headers Starlette's
`MutableHeaders` gave it before its shortcut for answers without `Cache-Control` or `Vary`
(docs/adr/0116), in the same order."""

import pytest
from starlette.datastructures import MutableHeaders
from starlette.types import Message

from bilet.http.private import make_private

Raw = list[tuple[bytes, bytes]]

STARTS: dict[str, Raw] = {
    "none": [],
    "a save's answer": [(b"content-length", b"40"), (b"content-type", b"application/json")],
    "cached elsewhere": [(b"cache-control", b"max-age=60"), (b"content-length", b"2")],
    "two cache-controls": [(b"cache-control", b"public"), (b"cache-control", b"max-age=5")],
    "varying": [(b"vary", b"Accept-Encoding"), (b"content-length", b"2")],
    "varying by authorization": [(b"vary", b"accept-encoding, Authorization")],
    "two varies": [(b"vary", b"Origin"), (b"vary", b"Accept-Encoding")],
}


def _as_before(start: Message) -> None:
    headers = MutableHeaders(scope=start)
    headers["Cache-Control"] = "no-store"
    varies = [v.strip().lower() for v in headers.get("Vary", "").split(",")]
    if "authorization" not in varies:
        headers.add_vary_header("Authorization")


@pytest.mark.parametrize("raw", STARTS.values(), ids=STARTS.keys())
def test_an_answer_is_made_private_as_before(raw: Raw) -> None:
    ours: Message = {"type": "http.response.start", "status": 200, "headers": list(raw)}
    before: Message = {"type": "http.response.start", "status": 200, "headers": list(raw)}

    make_private(ours)
    _as_before(before)

    assert list(ours["headers"]) == list(before["headers"])
    assert (b"cache-control", b"no-store") in ours["headers"]


def test_a_start_without_headers_gets_both() -> None:
    start: Message = {"type": "http.response.start", "status": 204}
    make_private(start)
    assert start["headers"] == [(b"cache-control", b"no-store"), (b"vary", b"Authorization")]
