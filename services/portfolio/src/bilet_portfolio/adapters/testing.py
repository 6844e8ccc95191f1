"""For tests of the portfolio read model (unit, PostgreSQL, Kafka): apply a recorded history,
dump every table in a form that compares across databases, a history of the test world
through every kind of event (and its appending to source stores), and the erased pupil's rows
as a rebuild must leave them."""

from collections.abc import Mapping
from typing import Any

from bilet.contracts.vocabulary import Stage
from bilet.eventstore import EventStore, NewEvent, RecordedEvent
from bilet.projections import ReadModel
from bilet.projections.readmodel import layout_of
from bilet_portfolio.adapters.projection import PortfolioProjection

Recorded = list[tuple[str, RecordedEvent]]


async def apply_in_order(read_model: ReadModel, recorded: Recorded) -> None:
    """The projection alone, one transaction per event, in exactly this order."""
    projection = PortfolioProjection()
    await read_model.install(projection)
    layout = layout_of(projection, read_model.dialect)
    for _, event in recorded:
        async with read_model.transaction(layout.renderer) as tx:
            await projection.apply(tx, event)


async def dump(read_model: ReadModel) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every portfolio table, normalised across databases, sorted."""
    projection = PortfolioProjection()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with read_model.query(projection) as tx:
        for table in projection.tables:
            fetched = await tx.fetch(f"SELECT * FROM {{{table.name}}}")  # noqa: S608
            rows[table.name] = sorted((tuple(_plain(v) for v in row) for row in fetched), key=repr)
    return rows


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


async def world_history(catalogue: Any, ids: Any, recorder: Any) -> Recorded:
    """Three pupils through every kind of event, recorded in a plausible order (the `catalogue`,
    `ids` and `recorder` fixtures of the portfolio tests)."""
    a, b, e = ids.pupil("a"), ids.pupil("b"), ids.pupil("e")
    ca, cb, ce = ids.uid("consent:a"), ids.uid("consent:b"), ids.uid("consent:e")
    ev1, ev2 = ids.uid("career-event:1"), ids.uid("career-event:2")
    events: list[Any] = [
        catalogue.season_rules(),
        catalogue.region(),
        catalogue.window(),
        catalogue.school(ids.school_3),
        catalogue.school(ids.school_5),
        await catalogue.registered(a),
        await catalogue.registered(b, grade=8),
        await catalogue.registered(e, name=("Петров", "Пётр", None)),
        await catalogue.submitted(a, ca),
        catalogue.verified(a, ca),
        await catalogue.submitted(b, cb),
        catalogue.rejected(b, cb),
        await catalogue.submitted(e, ce),
        catalogue.verified(e, ce),
        await catalogue.guardian(a, ids.uid("guardian:a"), ca),
        catalogue.instrument(),
        catalogue.started(a, ids.uid("attempt:a1"), Stage.INTERESTS),
        catalogue.completed(a, ids.uid("attempt:a1"), Stage.INTERESTS, smart=50),
        catalogue.started(a, ids.uid("attempt:a2"), Stage.INTERESTS),
        catalogue.completed(a, ids.uid("attempt:a2"), Stage.INTERESTS, smart=90),
        catalogue.started(e, ids.uid("attempt:e1"), Stage.SOFT_SKILLS),
        catalogue.career_event(ev1),
        catalogue.career_event(ev2),
        catalogue.booked(ev1, ids.uid("booking:a1"), a),
        catalogue.booked(ev1, ids.uid("booking:e1"), e),
        catalogue.booked(ev2, ids.uid("booking:a2"), a),
        catalogue.attended(ev1, ids.uid("booking:a1"), a),
        await catalogue.feedback(ev1, ids.uid("feedback:a1"), ids.uid("booking:a1"), a),
        await catalogue.feedback(ev1, ids.uid("feedback:e1"), ids.uid("booking:e1"), e),
        catalogue.career_event_cancelled(ev2),
        catalogue.booking_cancelled(ev2, ids.uid("booking:a2"), a),
        catalogue.recommendations(a, ids.uid("recommendations:a1")),
        catalogue.recommendations(a, ids.uid("recommendations:a2"), ids.uid("recommendations:a1")),
        await catalogue.corrected(b, grade=9),
        catalogue.moved(b, ids.school_5, ids.leningrad, 9),
        catalogue.withdrawn(e, ce),
        catalogue.erased(e),
        await catalogue.corrected(e, last_name="Сидоров"),  # arrives after the erasure
    ]
    return [recorder.record(event) for event in events]


async def record_world(
    stores: Mapping[str, EventStore], catalogue: Any, ids: Any, recorder: Any
) -> None:
    """`world_history`, appended to the source stores, one append per event."""
    for source, event in await world_history(catalogue, ids, recorder):
        new = NewEvent(event.type, event.data, event.metadata, event.event_id)
        await stores[source].append(event.stream_id, [new])


async def assert_erased_pupil_kept_out(read_model: ReadModel, ids: Any) -> None:
    """The world's erased pupil (`e`): marked erased, the name that arrived after the erasure
    not kept, their feedback rows there without a comment."""
    erased = str(ids.pupil("e"))
    async with read_model.query(PortfolioProjection()) as tx:
        row = await tx.fetchrow(
            "SELECT erased, full_name FROM {participants} WHERE participant_id = $1", erased
        )
        comments = await tx.fetch(
            "SELECT comment FROM {feedback} WHERE participant_id = $1", erased
        )
    assert row == (True, None)
    assert comments
    assert all(comment == (None,) for comment in comments)
