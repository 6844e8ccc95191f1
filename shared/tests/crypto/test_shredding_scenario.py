"""Crypto-shredding end to end: a pupil's registration written to an event file, then erased.

The JSON-lines file stands for an event store's file. After erasure the pupil's name and СНИЛС
are in neither that file nor the key store's files, and a replay of the history still works.
Runs over each durable key store (SQLite file, PostgreSQL schema; see conftest.py).
"""

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilet.crypto import ERASED, FieldCipher, MasterKey

if TYPE_CHECKING:
    from shared.tests.crypto.conftest import Backend

PERSONAL = ("full_name", "snils", "birth_date")
MARIA_ID = "3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0001"
MARIA: dict[str, object] = {
    "participant_id": MARIA_ID,
    "full_name": "Иванова Мария Петровна",
    "snils": "112-233-445 95",
    "birth_date": "2011-04-05",
    "school": "МОУ «СОШ № 3», Луга",
    "grade": 7,
}
PAVEL: dict[str, object] = {
    "participant_id": "3f0c5e0a-0b7e-4c1c-9a51-2b7d1d1f0002",
    "full_name": "Смирнов Павел Андреевич",
    "snils": "123-456-789 64",
    "birth_date": "2012-01-17",
    "school": "МОУ «СОШ № 3», Луга",
    "grade": 6,
}
# Each way Maria's personal data could be spelled in a file: UTF-8, JSON escapes, bare digits.
MARIA_TRACES = [
    "Иванова Мария Петровна".encode(),
    "Иванова".encode(),
    json.dumps("Иванова").strip('"').encode("ascii"),
    b"112-233-445 95",
    b"11223344595",
]


def _files_holding(directory: Path, needle: bytes) -> list[str]:
    return sorted(
        path.name for path in directory.rglob("*") if path.is_file() and needle in path.read_bytes()
    )


async def _registrations(cipher: FieldCipher) -> list[str]:
    lines = []
    for pupil in (MARIA, PAVEL):
        subject = str(pupil["participant_id"])
        data = await cipher.encrypt(subject, pupil, PERSONAL)
        event = {"type": "ParticipantRegistered", "stream_id": subject, "data": data}
        lines.append(json.dumps(event, ensure_ascii=False))
    return lines


def _write_lines(events_file: Path, lines: list[str]) -> None:
    events_file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _read_events(events_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines()]


async def _replay(cipher: FieldCipher, events: list[dict[str, Any]]) -> list[dict[str, object]]:
    return [await cipher.decrypt(event["stream_id"], event["data"]) for event in events]


async def test_given_a_registered_pupil_when_erased_then_her_data_is_nowhere_and_replay_works(
    tmp_path: Path, backend: "Backend"
) -> None:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    events_file = events_dir / "identity.jsonl"
    master_key = MasterKey.generate()

    # Given two pupils registered, their personal fields encrypted in the event file.
    store = await backend.open(master_key)
    cipher = FieldCipher(store)
    _write_lines(events_file, await _registrations(cipher))

    assert _files_holding(events_dir, "МОУ «СОШ № 3»".encode()), "control: the scan reads it"
    for trace in MARIA_TRACES:
        assert _files_holding(events_dir, trace) == []
    assert await _replay(cipher, _read_events(events_file)) == [MARIA, PAVEL]
    maria_key = await store.get(MARIA_ID)
    assert maria_key is not None

    # When Maria's guardian withdraws consent and she is erased.
    assert await cipher.erase(MARIA_ID) is True

    # Then her name and СНИЛС are in neither the event file nor the key store's files, nor is
    # her key.
    key_files = await backend.files()
    for trace in [*MARIA_TRACES, maria_key.key]:
        assert _files_holding(events_dir, trace) == []
        assert not any(trace in content for content in key_files)

    # And the replay still runs: her personal fields read ERASED, the rest of history stays.
    maria, pavel = await _replay(cipher, _read_events(events_file))
    assert {name: maria[name] for name in PERSONAL} == dict.fromkeys(PERSONAL, ERASED)
    assert {name: maria[name] for name in MARIA if name not in PERSONAL} == {
        name: MARIA[name] for name in MARIA if name not in PERSONAL
    }
    assert pavel == PAVEL
    assert Counter(str(pupil["school"]) for pupil in (maria, pavel)) == {"МОУ «СОШ № 3», Луга": 2}
    await store.close()

    # And after a restart, with a fresh cipher on the reopened store, it stays that way.
    reopened = await backend.open(master_key)
    maria, pavel = await _replay(FieldCipher(reopened), _read_events(events_file))
    assert maria["full_name"] is ERASED
    assert maria["snils"] is ERASED
    assert pavel == PAVEL
