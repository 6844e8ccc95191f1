"""The portfolio projection: given events → expected portfolio; every catalogue version applies;
erasure; and the same rows whatever the interleaving of streams, duplicates and replays."""

import json
import random
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilet.contracts import CATALOGUE
from bilet.contracts.examples import EXAMPLES
from bilet.eventstore import RecordedEvent
from bilet.projections import Applied, Delivery, Projector, ReadModel
from bilet.projections.port import SqlRenderer
from bilet.projections.readmodel import layout_of
from bilet.projections.sqlite import SqliteReadModel
from bilet_portfolio.adapters import document, layout
from bilet_portfolio.adapters.projection import HANDLERS, PortfolioProjection
from bilet_portfolio.adapters.readmodel import SqlPortfolioReader
from bilet_portfolio.adapters.testing import apply_in_order, dump, world_history
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.views import ParticipantRecord, PortfolioRecord, stages_shown

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Catalogue, Ids, Recorder

Recorded = list[tuple[str, RecordedEvent]]


async def sqlite(tmp_path: Path, name: str = "rm") -> ReadModel:
    return await SqliteReadModel.open(tmp_path / f"{name}.sqlite3")


async def apply_through_runtime(read_model: ReadModel, recorded: Recorded, seed: int) -> None:
    """Through the runtime's engine, as the feeds deliver: per source in store order, each event
    followed by repeats of earlier ones (a relay's duplicates), sources interleaved at random."""
    rng = random.Random(seed)
    projection = PortfolioProjection()
    projector = Projector(read_model, projection)
    await projector.install()
    by_source: dict[str, list[RecordedEvent]] = {}
    for source, event in recorded:
        by_source.setdefault(source, []).append(event)
    queues: dict[str, list[list[Delivery]]] = {}
    for source, events in by_source.items():
        await projector.resume_points(source, [0], source)
        batches: list[list[Delivery]] = []
        offset = 0
        for index, event in enumerate(events):
            repeats = [events[rng.randrange(index + 1)] for _ in range(rng.randrange(3))]
            batch = []
            # As on Kafka: a duplicate is a record of its own, at the next offset.
            for delivered in (event, *repeats):
                batch.append(Delivery(delivered, offset, offset + 1))
                offset += 1
            batches.append(batch)
        queues[source] = batches
    checkpoint = dict.fromkeys(queues, 0)
    while any(queues.values()):
        source = rng.choice([s for s, q in queues.items() if q])
        outcome = await projector.apply(source, 0, checkpoint[source], queues[source].pop(0))
        assert isinstance(outcome, Applied), outcome
        checkpoint[source] = outcome.checkpoint


async def whole(reader: SqlPortfolioReader, participant_id: str) -> PortfolioRecord | None:
    snapshot = await reader.portfolio(participant_id, lambda _: True)
    return None if snapshot is None else snapshot.record


async def row(reader: SqlPortfolioReader, participant_id: str) -> ParticipantRecord | None:
    snapshot = await reader.participant(participant_id)
    return None if snapshot is None else snapshot.participant


async def test_every_published_version_of_the_catalogue_applies(tmp_path: Path) -> None:
    """The catalogue's example of every type and version, decoded through the upcasters."""
    read_model = await sqlite(tmp_path)
    recorded: Recorded = []
    for number, ((event_type, version), data) in enumerate(sorted(EXAMPLES.items()), start=1):
        cls = CATALOGUE.model(event_type, version)
        event = cls.model_validate_json(json.dumps(data))
        recorded.append(
            (
                cls.service,
                RecordedEvent(
                    stream_id=event.stream_id,
                    version=0,
                    position=number,
                    event_id=uuid.uuid4(),
                    type=event_type,
                    data=json.dumps(data).encode(),
                    metadata=json.dumps({"schema_version": version}).encode(),
                    recorded_at=datetime(2019, 10, 1, tzinfo=UTC),
                ),
            )
        )
    await apply_in_order(read_model, recorded)
    assert set(HANDLERS) >= set(CATALOGUE.event_types())
    rows = await dump(read_model)
    assert rows["participants"], "the examples' participant has a row"
    assert rows["history"]
    await read_model.close()


async def test_given_a_history_then_the_portfolio(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    read_model = await sqlite(tmp_path)
    await apply_in_order(read_model, await world_history(catalogue, ids, recorder))
    reader = SqlPortfolioReader(read_model)
    a = await whole(reader, str(ids.pupil("a")))
    assert a is not None
    p = a.participant
    assert p.consent.state is ConsentState.VERIFIED
    assert p.consent.opens_portfolio(date(2019, 11, 1))
    assert p.consent.state_on(date(2021, 1, 1)) is ConsentState.EXPIRED
    assert (p.school_id, p.grade, p.season) == (str(ids.school_3), 7, 2019)
    assert p.sealed_name is not None
    assert "$enc" in p.sealed_name
    assert p.progress.stages_completed == 1
    assert p.progress.career_events_attended == 1
    assert p.progress.career_events_booked == 0
    assert p.progress.recommendations is True
    assert [(g.guardian_id, g.relationship) for g in a.guardians] == [
        (str(ids.uid("guardian:a")), "parent")
    ]
    assert sorted((b.booking_id, b.status) for b in a.bookings) == sorted(
        [(str(ids.uid("booking:a1")), "attended"), (str(ids.uid("booking:a2")), "cancelled")]
    )
    cancelled = next(b for b in a.bookings if b.status == "cancelled")
    assert cancelled.career_event is not None
    assert cancelled.career_event.cancelled
    assert [r.recommendation_set_id for r in a.recommendations] == [
        str(ids.uid("recommendations:a2"))
    ]
    # Two attempts at one stage: the completed one recorded last is shown.
    (interests,) = stages_shown(a.attempts)
    assert interests.attempt_id == str(ids.uid("attempt:a2"))
    assert interests.result is not None
    assert interests.result["environments"]["scores"]["smart"] == 90
    assert p.version == len(a.history)

    b = await row(reader, str(ids.pupil("b")))
    assert b is not None
    assert b.consent.state is ConsentState.REJECTED
    assert b.consent.rejection_reasons == ("unreadable_scan",)
    assert (b.school_id, b.grade) == (str(ids.school_5), 9)

    e = await whole(reader, str(ids.pupil("e")))
    assert e is not None
    assert e.participant.erased
    assert e.participant.sealed_name is None  # not even the correction that came after
    assert e.participant.consent.state is ConsentState.WITHDRAWN
    assert all(f.sealed_comment is None for f in e.feedback)
    assert e.bookings  # pseudonymous facts stay
    async with read_model.query(PortfolioProjection()) as tx:
        sections = await tx.fetchval(
            "SELECT sections FROM {portfolio_documents} WHERE participant_id = $1",
            str(ids.pupil("e")),
        )
    assert sections is not None
    assert "$enc" not in sections  # the comments' envelopes left the document too
    await read_model.close()


async def test_a_career_event_published_after_the_booking_renders_into_the_document(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """The booking arrives first (the events service publishes before the portfolio hears of
    the career event): the booked pupil's document shows the career event once it comes."""
    recorded = await world_history(catalogue, ids, recorder)
    late = ("CareerEventPublished", "CareerEventCancelled")
    published = [r for r in recorded if r[1].type in late]
    rest = [r for r in recorded if r[1].type not in late]
    read_model = await sqlite(tmp_path)
    reader = SqlPortfolioReader(read_model)
    await apply_in_order(read_model, rest)
    a = await whole(reader, str(ids.pupil("a")))
    assert a is not None
    assert a.bookings
    assert all(b.career_event is None for b in a.bookings)
    await apply_in_order(read_model, published)
    a = await whole(reader, str(ids.pupil("a")))
    assert a is not None
    assert all(b.career_event is not None for b in a.bookings)
    await documents_are_current(read_model)
    await read_model.close()


async def test_tables_of_an_earlier_layout_are_told_apart(tmp_path: Path) -> None:
    """No tables: nothing to rebuild. The current layout: up to date. Live tables without the
    `consents` of the layout before the last, or without the `portfolio_documents` of the last:
    outdated (rebuild)."""
    projection = PortfolioProjection()
    for dropped in (None, "consents", "portfolio_documents", "recommendation_outlooks"):
        read_model = await sqlite(tmp_path, f"layout-{dropped}")
        assert not await layout.outdated(read_model, projection)
        await read_model.install(projection)
        if dropped is not None:
            async with read_model.transaction(SqlRenderer("sqlite", {})) as tx:
                await tx.execute(f"DROP TABLE {dropped}")
        assert await layout.outdated(read_model, projection) is (dropped is not None), dropped
        await read_model.close()


async def test_a_newer_consent_waits_beside_the_one_in_force(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    pid, first, second, third = (
        ids.pupil("renew"),
        ids.uid("c1"),
        ids.uid("c2"),
        ids.uid("c3"),
    )
    read_model = await sqlite(tmp_path)
    reader = SqlPortfolioReader(read_model)
    steps: list[tuple[Any, ConsentState, bool]] = [
        (await c.submitted(pid, first), ConsentState.PENDING, False),
        (c.verified(pid, first), ConsentState.VERIFIED, False),
        (await c.submitted(pid, second), ConsentState.VERIFIED, True),
        (c.rejected(pid, second), ConsentState.VERIFIED, False),
        (await c.submitted(pid, third), ConsentState.VERIFIED, True),
        (c.verified(pid, third, valid_until=date(2021, 8, 31)), ConsentState.VERIFIED, False),
        (c.purposes_withdrawn(pid, third, ["portfolio"]), ConsentState.VERIFIED, False),
        (c.withdrawn(pid, third), ConsentState.WITHDRAWN, False),
    ]
    for event, state, pending in steps:
        await apply_in_order(read_model, [recorder.record(event)])
        participant = await row(reader, str(pid))
        assert participant is not None
        assert (participant.consent.state, participant.consent.pending) == (state, pending)
    participant = await row(reader, str(pid))
    assert participant is not None
    assert participant.consent.valid_until == date(2021, 8, 31)
    assert "portfolio" not in participant.consent.purposes
    await read_model.close()


def interleave(recorded: Recorded, rng: random.Random) -> Recorded:
    """Another order a feed may deliver in: each stream's events stay in their order, streams
    (and sources) interleave at random."""
    streams: dict[tuple[str, str], list[tuple[str, RecordedEvent]]] = {}
    for source, event in recorded:
        streams.setdefault((source, event.stream_id), []).append((source, event))
    pending = [list(events) for events in streams.values()]
    out: Recorded = []
    while pending:
        chosen = rng.choice(pending)
        out.append(chosen.pop(0))
        if not chosen:
            pending.remove(chosen)
    return out


async def test_any_interleaving_of_streams_builds_the_same_rows(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    reference = await sqlite(tmp_path, "reference")
    await apply_in_order(reference, recorded)
    expected = await dump(reference)
    await reference.close()
    for seed in range(12):
        shuffled = interleave(recorded, random.Random(seed))
        assert shuffled != recorded or seed == 0
        read_model = await sqlite(tmp_path, f"shuffled-{seed}")
        await apply_in_order(read_model, shuffled)
        assert await dump(read_model) == expected, f"interleaving {seed}"
        await documents_are_current(read_model)
        await read_model.close()


async def documents_are_current(read_model: ReadModel) -> None:
    """Every participant's document is what their rows render now: none was left stale by an
    event that changed a section without rendering it again (a career event published after
    the booking on it, an erasure)."""
    projection = PortfolioProjection()
    layout = layout_of(projection, read_model.dialect)
    async with read_model.transaction(layout.renderer) as tx:
        rows = await tx.fetch(
            "SELECT p.participant_id, p.version, d.version, d.sections FROM {participants} p "
            "LEFT JOIN {portfolio_documents} d ON d.participant_id = p.participant_id"
        )
        assert rows
        for pid, version, document_version, sections in rows:
            assert document_version == version, pid
            assert sections == await document.render(tx, pid), pid


async def test_duplicates_and_replays_through_the_runtime_change_nothing(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    recorded = await world_history(catalogue, ids, recorder)
    reference = await sqlite(tmp_path, "reference")
    await apply_in_order(reference, recorded)
    expected = await dump(reference)
    await reference.close()
    for seed in range(6):
        read_model = await sqlite(tmp_path, f"duplicated-{seed}")
        await apply_through_runtime(read_model, recorded, seed)
        assert await dump(read_model) == expected, f"seed {seed}"
        await read_model.close()


async def test_events_of_no_published_type_are_ignored(
    tmp_path: Path, recorder: "Recorder", catalogue: "Catalogue", ids: "Ids"
) -> None:
    read_model = await sqlite(tmp_path)
    source, registered = recorder.record(await catalogue.registered(ids.pupil("x")))
    internal = registered._replace(type="PersonalDataAccessed", stream_id="audit-2019-10-01")
    await apply_in_order(read_model, [(source, internal)])
    assert all(rows == [] for rows in (await dump(read_model)).values())
    await read_model.close()


async def test_a_whole_withdrawal_closes_the_participant_whichever_consent_it_names(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    """As the consent service did (one `ConsentWithdrawn` naming the newer consent, still
    pending) and as it does now (one per active consent, each with its deadline): withdrawn,
    the earliest deadline kept, nothing pending, no guardian linked."""
    c = catalogue
    older, newer = ids.uid("w1"), ids.uid("w2")
    guardian = ids.uid("guardian:w")

    def withdrawal(pid: Any, consent_id: Any, erase_by: date) -> Any:
        event = c.withdrawn(pid, consent_id)
        return event.model_copy(update={"erase_by": erase_by})

    async def history(pid: Any) -> list[Any]:
        return [
            await c.submitted(pid, older),
            c.verified(pid, older),
            await c.guardian(pid, guardian, older),
            await c.submitted(pid, newer),
        ]

    old_behaviour, new_behaviour = ids.pupil("withdraws-old"), ids.pupil("withdraws-new")
    events = [
        *await history(old_behaviour),
        withdrawal(old_behaviour, newer, date(2019, 12, 1)),
        *await history(new_behaviour),
        withdrawal(new_behaviour, newer, date(2019, 12, 5)),
        withdrawal(new_behaviour, older, date(2019, 12, 3)),
    ]
    read_model = await sqlite(tmp_path)
    await apply_in_order(read_model, [recorder.record(event) for event in events])
    reader = SqlPortfolioReader(read_model)
    for pid, erase_by in ((old_behaviour, date(2019, 12, 1)), (new_behaviour, date(2019, 12, 3))):
        record = await whole(reader, str(pid))
        assert record is not None
        facts = record.participant.consent
        assert facts.state is ConsentState.WITHDRAWN
        assert facts.erase_by == erase_by
        assert facts.pending is False
        assert not facts.opens_portfolio(date(2019, 11, 5))
        assert record.guardians == []
    await read_model.close()


async def test_which_consent_is_shown_when_several_wait(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    pid = ids.pupil("several")
    first, second, third = ids.uid("s1"), ids.uid("s2"), ids.uid("s3")
    read_model = await sqlite(tmp_path)
    reader = SqlPortfolioReader(read_model)
    steps: list[tuple[Any, ConsentState, bool, date]] = [
        (await c.submitted(pid, first), ConsentState.PENDING, False, date(2020, 8, 31)),
        (c.verified(pid, first), ConsentState.VERIFIED, False, date(2020, 8, 31)),
        (
            await c.submitted(pid, second, valid_until=date(2021, 5, 31)),
            ConsentState.VERIFIED,
            True,
            date(2020, 8, 31),
        ),
        (
            await c.submitted(pid, third, valid_until=date(2021, 8, 31)),
            ConsentState.VERIFIED,
            True,
            date(2020, 8, 31),
        ),
        # Rejecting the newest leaves the one in force shown, the older one still waiting.
        (c.rejected(pid, third), ConsentState.VERIFIED, True, date(2020, 8, 31)),
        # Verifying the older one waiting: in force now; nothing newer waits any more.
        (
            c.verified(pid, second, valid_until=date(2021, 5, 31)),
            ConsentState.VERIFIED,
            False,
            date(2021, 5, 31),
        ),
    ]
    for event, state, pending, valid_until in steps:
        await apply_in_order(read_model, [recorder.record(event)])
        participant = await row(reader, str(pid))
        assert participant is not None
        facts = participant.consent
        assert (facts.state, facts.pending, facts.valid_until) == (state, pending, valid_until)
    await read_model.close()


async def test_verifying_an_older_pending_consent_keeps_a_newer_one_pending(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    pid = ids.pupil("older-verified")
    first, second, third = ids.uid("o1"), ids.uid("o2"), ids.uid("o3")
    events = [
        await c.submitted(pid, first),
        c.verified(pid, first),
        await c.submitted(pid, second),
        await c.submitted(pid, third),
        c.verified(pid, second),
    ]
    read_model = await sqlite(tmp_path)
    await apply_in_order(read_model, [recorder.record(event) for event in events])
    participant = await row(SqlPortfolioReader(read_model), str(pid))
    assert participant is not None
    assert (participant.consent.state, participant.consent.pending) == (ConsentState.VERIFIED, True)
    await read_model.close()


async def test_a_guardian_link_ends_with_its_consent(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    pid = ids.pupil("links")
    first, second = ids.uid("l1"), ids.uid("l2")
    mother, father = ids.uid("guardian:mother"), ids.uid("guardian:father")
    read_model = await sqlite(tmp_path)
    reader = SqlPortfolioReader(read_model)

    async def linked_after(*events: Any) -> list[str]:
        await apply_in_order(read_model, [recorder.record(event) for event in events])
        record = await whole(reader, str(pid))
        assert record is not None
        return [g.guardian_id for g in record.guardians]

    assert await linked_after(
        await c.submitted(pid, first), c.verified(pid, first), await c.guardian(pid, mother, first)
    ) == [str(mother)]
    # A newer consent of another guardian, verified: the mother's link ended with hers.
    assert await linked_after(
        await c.submitted(pid, second),
        c.verified(pid, second),
        await c.guardian(pid, father, second),
    ) == [str(father)]
    assert await linked_after(c.withdrawn(pid, second)) == []
    other = ids.pupil("links-erased")
    await apply_in_order(
        read_model,
        [
            recorder.record(event)
            for event in (
                await c.submitted(other, ids.uid("l3")),
                c.verified(other, ids.uid("l3")),
                await c.guardian(other, mother, ids.uid("l3")),
                c.erased(other),
            )
        ],
    )
    erased = await whole(reader, str(other))
    assert erased is not None
    assert erased.guardians == []
    await read_model.close()


async def test_the_reference_version_counts_reference_events(
    tmp_path: Path, catalogue: "Catalogue", ids: "Ids", recorder: "Recorder"
) -> None:
    c = catalogue
    read_model = await sqlite(tmp_path)
    pid = ids.pupil("reference")
    await apply_in_order(read_model, [recorder.record(await c.registered(pid))])
    reader = SqlPortfolioReader(read_model)

    async def reference() -> int:
        snapshot = await reader.participant(str(pid))
        assert snapshot is not None
        return snapshot.reference_version

    assert await reference() == 0
    for count, event in enumerate(
        (c.season_rules(), c.region(), c.window(), c.school(), c.school(ids.school_5)), start=1
    ):
        await apply_in_order(read_model, [recorder.record(event)])
        assert await reference() == count
    await apply_in_order(read_model, [recorder.record(c.instrument())])  # shown nowhere
    assert await reference() == 5
    await read_model.close()
