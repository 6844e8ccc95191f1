"""Runs of `ExportRun` over in-memory stores: a run stopped mid-way resumes from its last commit
and ends with what one uninterrupted run writes; `until`, a given start and a refused request."""

import contextlib
import json
from collections import Counter
from collections.abc import AsyncGenerator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pyarrow.parquet as pq
import pytest

from bilet.analytics import (
    ExportRefused,
    ExportRequest,
    ExportRun,
    StoreSource,
    load_manifest,
    pseudonymiser_for,
    sources,
)
from bilet.analytics.export import HELD_BYTES
from bilet.analytics.sources import Page
from bilet.contracts import CATALOGUE
from bilet.contracts import examples as ex
from bilet.crypto import InMemoryKeyStore
from bilet.eventstore import EventStore, NewEvent
from bilet.eventstore.memory import InMemoryEventStore

PURPOSES = ["programme_participation", "pseudonymised_analytics"]


async def append(stores: dict[str, EventStore], event_type: str, **changes: Any) -> None:
    model = CATALOGUE.latest(event_type)
    data = json.dumps({**ex.EXAMPLES[(event_type, model.schema_version)], **changes})
    event = model.model_validate_json(data)
    meta = b'{"schema_version":%d}' % model.schema_version
    await stores[model.service].append(event.stream_id, [NewEvent(event_type, data.encode(), meta)])


async def register_with_consent(
    stores: dict[str, EventStore], pupil: str, consented_as: str | None = None
) -> None:
    """A pupil registered, and a consent covering analytics verified (naming them `consented_as`,
    their id by default)."""
    await append(stores, "ParticipantRegistered", participant_id=pupil, season=2019)
    await append(
        stores,
        "ConsentVerified",
        participant_id=consented_as or pupil,
        consent_id=str(uuid4()),
        purposes=PURPOSES,
        valid_until="2099-12-31",
    )


async def add_pupils(stores: dict[str, EventStore], count: int) -> None:
    for _ in range(count):
        pupil = str(uuid4())
        await register_with_consent(stores, pupil)
        await append(stores, "SeatBooked", participant_id=pupil, booking_id=str(uuid4()))


async def world(pupils: int) -> dict[str, EventStore]:
    stores: dict[str, EventStore] = {s: InMemoryEventStore() for s in CATALOGUE.producers()}
    await append(stores, "RegionAdmitted")
    await append(stores, "SchoolRegistered")
    await add_pupils(stores, pupils)
    return stores


class StopAfter:
    """A progress that stops the run (as Ctrl-C does) once `limit` events were read."""

    def __init__(self, limit: int) -> None:
        self.limit, self.seen = limit, 0

    def begin(self, phase: str, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        self.seen += amount
        if self.seen >= self.limit:
            raise KeyboardInterrupt


async def test_an_interrupted_run_resumes_and_ends_as_one_run_would(tmp_path: Path) -> None:
    stores, keystore = await world(40), InMemoryKeyStore()
    whole = ExportRequest("research", tmp_path / "whole")
    await ExportRun(StoreSource(stores), keystore, whole).execute()

    broken = ExportRequest("research", tmp_path / "broken", chunk_events=10)
    with pytest.raises(KeyboardInterrupt):
        await ExportRun(StoreSource(stores), keystore, broken, progress=StopAfter(60)).execute()
    interrupted = load_manifest(broken.out)
    assert interrupted is not None  # a chunk was committed before the stop
    assert 0 < sum(interrupted.tables.values()) < 122
    await ExportRun(StoreSource(stores), keystore, broken).execute()

    resumed, expected = load_manifest(broken.out), load_manifest(whole.out)
    assert resumed is not None
    assert expected is not None
    assert resumed.tables == expected.tables
    assert resumed.population == expected.population
    assert resumed.cursor == expected.cursor


async def test_until_stops_each_lane_and_the_next_run_goes_on(tmp_path: Path) -> None:
    stores, keystore = await world(3), InMemoryKeyStore()
    await add_pupils(stores, 2)
    later = await stores["identity"].read_all(0, 1000)
    until = later[-2].recorded_at  # the registration of the last pupil but one
    request = ExportRequest("research", tmp_path / "out", until=until)
    await ExportRun(StoreSource(stores), keystore, request).execute()
    first = load_manifest(request.out)
    assert first is not None
    assert first.tables["participant_registered"] < 5
    await ExportRun(StoreSource(stores), keystore, ExportRequest("research", request.out)).execute()
    second = load_manifest(request.out)
    assert second is not None
    assert second.tables["participant_registered"] == 5
    assert second.tables["seat_booked"] == 5


async def test_a_given_start_skips_what_is_before_it_and_is_refused_later(tmp_path: Path) -> None:
    stores, keystore = await world(4), InMemoryKeyStore()
    head = await stores["events"].head_position()
    request = ExportRequest("research", tmp_path / "out", start={"events": head - 1})
    await ExportRun(StoreSource(stores), keystore, request).execute()
    manifest = load_manifest(request.out)
    assert manifest is not None
    assert manifest.tables["seat_booked"] == 1
    assert manifest.tables["participant_registered"] == 4
    with pytest.raises(ExportRefused):
        await ExportRun(StoreSource(stores), keystore, request).execute()


class CountingSource(StoreSource):
    """Counts the events each lane gives, over every read of the run."""

    def __init__(self, stores: dict[str, EventStore]) -> None:
        super().__init__(stores)
        self.events: Counter[str] = Counter()

    async def read(
        self, lane: str, after: int, end: int, event_types: frozenset[str] | None = None
    ) -> AsyncGenerator[Page, None]:
        pages = super().read(lane, after, end, event_types)
        async with contextlib.aclosing(pages):
            async for page in pages:
                self.events[lane] += len(page)
                yield page


def tables_of(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, sorted: what an export holds whatever its files and their order."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((out / "tables").rglob("*.parquet")):
        rows.setdefault(path.parts[-3], []).extend(pq.read_table(path).to_pylist())
    return {name: sorted(found, key=lambda row: row["event_key"]) for name, found in rows.items()}


@pytest.mark.parametrize("held_bytes", [HELD_BYTES, 20_000, 0])
async def test_identity_and_consent_are_read_once_within_the_held_budget(
    held_bytes: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "PAGE", 7)  # several pages a lane, some held, some not
    stores, keystore = await world(30), InMemoryKeyStore()
    # a consent that does not cover analytics: its event is left out
    await append(stores, "ConsentVerified", participant_id=str(uuid4()), purposes=PURPOSES[:1])
    heads = {service: await store.head_position() for service, store in stores.items()}
    expected = ExportRequest("research", tmp_path / "expected")
    await ExportRun(StoreSource(stores), keystore, expected, held_bytes=0).execute()
    source = CountingSource(stores)
    request = ExportRequest("research", tmp_path / "out", chunk_events=20)

    await ExportRun(source, keystore, request, held_bytes=held_bytes).execute()

    assert tables_of(request.out) == tables_of(expected.out)
    manifest, whole = load_manifest(request.out), load_manifest(expected.out)
    assert manifest is not None
    assert whole is not None
    assert manifest.tables == whole.tables
    assert manifest.cursor == whole.cursor == heads
    assert source.events["events"] == heads["events"]  # read once: no population there
    both = heads["identity"] + heads["consent"]
    read = source.events["identity"] + source.events["consent"]
    if held_bytes == HELD_BYTES:
        assert read == both
    elif held_bytes == 0:
        assert read == 2 * both
    else:  # the first pages held, the rest read again
        assert both < read < 2 * both


async def test_a_run_until_a_moment_folds_no_consent_given_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "PAGE", 2)  # the late consent on a later page than `until`
    stores, keystore = await world(2), InMemoryKeyStore()
    until = (await stores["consent"].read_all(0, 1000))[-1].recorded_at
    late = str(uuid4())
    await register_with_consent(stores, late)
    request = ExportRequest("research", tmp_path / "out", until=until)
    await ExportRun(StoreSource(stores), keystore, request).execute()
    manifest = load_manifest(request.out)
    assert manifest is not None
    assert manifest.participants == 1  # the second pupil's consent is the one at `until`
    assert manifest.tables["participant_registered"] == 1


async def test_an_id_spelt_otherwise_names_the_same_participant(tmp_path: Path) -> None:
    stores, keystore = await world(1), InMemoryKeyStore()
    pupil = uuid4()
    await register_with_consent(stores, str(pupil), consented_as=str(pupil).upper())
    await append(stores, "SeatBooked", participant_id=str(pupil).upper(), booking_id=str(uuid4()))
    request = ExportRequest("research", tmp_path / "out")
    await ExportRun(StoreSource(stores), keystore, request).execute()
    manifest = load_manifest(request.out)
    assert manifest is not None
    assert manifest.participants == 2
    pseudonym = (await pseudonymiser_for(keystore, "research"))(pupil)
    assert pseudonym in manifest.population
    booked = [row["participant_id"] for row in tables_of(request.out)["seat_booked"]]
    assert booked.count(pseudonym) == 1
    assert manifest.runs[-1].excluded_events == {}


@pytest.mark.parametrize("ending", ["ConsentWithdrawn", "ParticipantErased"])
async def test_a_participant_who_withdrew_or_was_erased_after_until_is_not_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    # `--until` names the moment of the history to export, but a withdrawal or an erasure ends a
    # participant's place in any new export, whenever it came (and however the lane stores it:
    # on a later page than `until`'s).
    monkeypatch.setattr(sources, "PAGE", 2)
    stores, keystore = await world(2), InMemoryKeyStore()
    consents = await stores["consent"].read_all(0, 1000)
    until = consents[-1].recorded_at + timedelta(microseconds=1)  # both pupils' consents in
    first = json.loads(consents[0].data)
    await add_pupils(stores, 1)  # after `until`: not folded, not exported
    changes: dict[str, Any] = {"participant_id": first["participant_id"]}
    if ending == "ConsentWithdrawn":
        changes["consent_id"] = first["consent_id"]
    await append(stores, ending, **changes)

    request = ExportRequest("research", tmp_path / "out", until=until)
    await ExportRun(StoreSource(stores), keystore, request).execute()

    manifest = load_manifest(request.out)
    assert manifest is not None
    assert manifest.participants == 1
    withdrawn = (await pseudonymiser_for(keystore, "research"))(UUID(first["participant_id"]))
    assert withdrawn not in manifest.population
    assert all(
        withdrawn not in row.values() for rows in tables_of(request.out).values() for row in rows
    )
