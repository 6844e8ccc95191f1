"""For tests of the portfolio read model (unit, PostgreSQL, Kafka): apply a recorded history,
dump every table in a form that compares across databases, and a history of the test world
through every kind of event."""

from typing import Any

from bilet.contracts.vocabulary import Stage
from bilet.eventstore import RecordedEvent
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


async def world_history(c: Any, ids: Any, recorder: Any) -> Recorded:
    """Three pupils through every kind of event, recorded in a plausible order (`c`, `ids`,
    `recorder`: the `catalogue`, `ids` and `recorder` fixtures of the portfolio tests)."""
    a, b, e = ids.pupil("a"), ids.pupil("b"), ids.pupil("e")
    ca, cb, ce = ids.uid("consent:a"), ids.uid("consent:b"), ids.uid("consent:e")
    ev1, ev2 = ids.uid("career-event:1"), ids.uid("career-event:2")
    events: list[Any] = [
        c.season_rules(),
        c.region(),
        c.window(),
        c.school(ids.school_3),
        c.school(ids.school_5),
        await c.registered(a),
        await c.registered(b, grade=8),
        await c.registered(e, name=("Петров", "Пётр", None)),
        await c.submitted(a, ca),
        c.verified(a, ca),
        await c.submitted(b, cb),
        c.rejected(b, cb),
        await c.submitted(e, ce),
        c.verified(e, ce),
        await c.guardian(a, ids.uid("guardian:a"), ca),
        c.instrument(),
        c.started(a, ids.uid("attempt:a1"), Stage.INTERESTS),
        c.completed(a, ids.uid("attempt:a1"), Stage.INTERESTS, smart=50),
        c.started(a, ids.uid("attempt:a2"), Stage.INTERESTS),
        c.completed(a, ids.uid("attempt:a2"), Stage.INTERESTS, smart=90),
        c.started(e, ids.uid("attempt:e1"), Stage.SOFT_SKILLS),
        c.career_event(ev1),
        c.career_event(ev2),
        c.booked(ev1, ids.uid("booking:a1"), a),
        c.booked(ev1, ids.uid("booking:e1"), e),
        c.booked(ev2, ids.uid("booking:a2"), a),
        c.attended(ev1, ids.uid("booking:a1"), a),
        await c.feedback(ev1, ids.uid("feedback:a1"), ids.uid("booking:a1"), a),
        await c.feedback(ev1, ids.uid("feedback:e1"), ids.uid("booking:e1"), e),
        c.career_event_cancelled(ev2),
        c.booking_cancelled(ev2, ids.uid("booking:a2"), a),
        c.recommendations(a, ids.uid("recommendations:a1")),
        c.recommendations(a, ids.uid("recommendations:a2"), ids.uid("recommendations:a1")),
        await c.corrected(b, grade=9),
        c.moved(b, ids.school_5, ids.leningrad, 9),
        c.withdrawn(e, ce),
        c.erased(e),
        await c.corrected(e, last_name="Сидоров"),  # arrives after the erasure
    ]
    return [recorder.record(event) for event in events]
