"""The request guard refuses invisible and direction-changing characters as it refuses C0
controls: C1 controls, line and paragraph separators, bidi embeddings, overrides and isolates,
and invisible format characters (a name that reads «Иванов» on screen and sorts, searches and
exports as something else). Ordinary text, emoji sequences included, passes."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from bilet.http import CurrentPrincipal, Role, ServiceDescription, create_service_app
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.guard import has_hostile_text, json_holds_hostile_text
from bilet.settings import PlatformSettings

REFUSED = {
    "C1 control NEL": "\u0085",
    "C1 control CSI": "\u009b",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "right-to-left override": "\u202e",
    "left-to-right embedding": "\u202a",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "right-to-left mark": "\u200f",
    "arabic letter mark": "\u061c",
    "zero-width space": "\u200b",
    "word joiner": "\u2060",
    "zero-width no-break space": "\ufeff",
    "invisible tag": "\U000e0041",
}
ORDINARY = [
    "Соколова Анна-Мария",
    "O'Brien\tд'Артаньян\r\nновая строка",
    "семья: \U0001f468\u200d\U0001f469\u200d\U0001f467",  # emoji joined by ZWJ
    "«кавычки» — тире, № 5, ё",
]

router = APIRouter()


class Note(BaseModel):
    text: str


@router.post("/v1/notes", name="note")
async def note(body: Note, principal: CurrentPrincipal) -> Note:
    return body


@pytest.fixture
def signer(tmp_path: Path) -> DevelopmentSigner:
    return ensure_development_keys(tmp_path)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."),
        [router],
        settings=PlatformSettings(var_dir=tmp_path),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("character", REFUSED.values(), ids=REFUSED.keys())
def test_the_character_is_hostile_anywhere_in_a_document(character: str) -> None:
    assert has_hostile_text({"a": [f"Иван{character}ов"]})
    assert has_hostile_text({f"key{character}": 1})


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_not_hostile(text: str) -> None:
    assert not has_hostile_text({"text": text})


@pytest.mark.parametrize("character", REFUSED.values(), ids=REFUSED.keys())
async def test_a_body_or_url_holding_it_is_400_invalid_text(
    client: httpx.AsyncClient, signer: DevelopmentSigner, character: str
) -> None:
    headers = {"Authorization": f"Bearer {signer.mint(Role.REGISTRAR)}"}
    for content in (
        json.dumps({"text": f"Иван{character}ов"}),  # as \u escapes
        json.dumps({"text": f"Иван{character}ов"}, ensure_ascii=False),  # as UTF-8
    ):
        answer = await client.post(
            "/probe/v1/notes",
            headers={**headers, "content-type": "application/json"},
            content=content.encode(),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "invalid_text"
    encoded = "".join(f"%{byte:02X}" for byte in character.encode())
    in_url = await client.get(f"/probe/v1/notes?q=a{encoded}b", headers=headers)
    assert in_url.status_code == 400
    assert in_url.json()["code"] == "invalid_text"


async def test_ordinary_text_reaches_the_route(
    client: httpx.AsyncClient, signer: DevelopmentSigner
) -> None:
    headers = {"Authorization": f"Bearer {signer.mint(Role.REGISTRAR)}"}
    for text in ORDINARY:
        answer = await client.post("/probe/v1/notes", headers=headers, json={"text": text})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"text": text}


def _parsed_and_walked(body: bytes) -> bool:
    """What the guard decided before its scan of bodies without escapes (docs/adr/0116)."""
    try:
        return has_hostile_text(json.loads(body))
    except (ValueError, RecursionError):
        return False


BODIES = {
    "ordinary": json.dumps({"option_id": "opt-1"}).encode(),
    "ordinary, UTF-8": json.dumps({"text": ORDINARY[0]}, ensure_ascii=False).encode(),
    "ordinary, escaped": json.dumps({"text": ORDINARY[1]}).encode(),
    "hostile, as UTF-8": json.dumps({"text": "a\u202eb"}, ensure_ascii=False).encode(),
    "hostile, escaped": json.dumps({"text": "a\u202eb"}).encode(),
    "hostile in a key": json.dumps({"k\u2028": 1}, ensure_ascii=False).encode(),
    "a NUL, escaped": b'{"text": "a\\u0000b"}',
    # Not JSON (a raw control character in a string): the application's 422, not ours.
    "a raw NUL": b'{"text": "a\x00b"}',
    "a raw separator outside any string": b'{"text":\xe2\x80\xa8"a"}',
    "malformed": b'{"text": ',
    # `json.loads` reads a leading byte-order mark as the encoding's, not as text.
    "a byte-order mark": "\ufeff".encode() + json.dumps({"text": "a"}).encode(),
    "UTF-16, ordinary": json.dumps({"text": "a"}).encode("utf-16-le"),
    "UTF-16, hostile": json.dumps({"text": "a\u202eb"}, ensure_ascii=False).encode("utf-16"),
    "not UTF-8": b'{"text": "\xff"}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_the_guards_scan_decides_as_parsing_and_walking_the_body(body: bytes) -> None:
    assert json_holds_hostile_text(body) == _parsed_and_walked(body)


def test_the_bodies_compared_hold_both_outcomes() -> None:
    hostile = {name for name, body in BODIES.items() if _parsed_and_walked(body)}
    assert hostile == {
        "hostile, as UTF-8",
        "hostile, escaped",
        "hostile in a key",
        "a NUL, escaped",
        "UTF-16, hostile",
    }
