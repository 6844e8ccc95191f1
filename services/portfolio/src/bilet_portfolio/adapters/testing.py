"""For tests of the portfolio read model (unit, PostgreSQL, Kafka): apply a recorded history,
dump every table in a form that compares across databases, a history of the test world
through every kind of event (and its appending to source stores), the world recorded in a
test's stores with the read models a rebuild test compares, and the erased pupil's rows as a
rebuild must leave them."""

import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from bilet.contracts.vocabulary import Environment, Stage
from bilet.crypto import FieldCipher
from bilet.eventstore import EventStore, NewEvent, RecordedEvent
from bilet.projections import Applied, Delivery, EmbeddedFeed, Projector, ReadModel
from bilet.projections.postgres import PostgresReadModel, drop_schema
from bilet.projections.readmodel import layout_of
from bilet_portfolio.adapters.projection import PortfolioProjection
from bilet_portfolio.adapters.stores import open_key_store, open_read_model, open_sources
from bilet_portfolio.settings import PortfolioSettings

Recorded = list[tuple[str, RecordedEvent]]
Rows = dict[str, list[tuple[Any, ...]]]  # `dump`'s: table → its rows


async def apply_in_order(
    read_model: ReadModel, recorded: Recorded, projection: PortfolioProjection | None = None
) -> None:
    """The projection alone (as made unless given), one transaction per event, in exactly this
    order."""
    projection = projection or PortfolioProjection()
    await read_model.install(projection)
    layout = layout_of(projection, read_model.dialect)
    for _, event in recorded:
        async with read_model.transaction(layout.renderer) as tx:
            await projection.apply(tx, event)


async def apply_in_one_batch(read_model: ReadModel, recorded: Recorded) -> None:
    """The projection run by the runtime over events of one source as a feed hands them in one
    batch: one transaction, the projection's work gathered over it (the live path)."""
    projector = Projector(read_model, PortfolioProjection())
    await projector.install()
    (source,) = {source for source, _ in recorded}
    await projector.resume_points(source, [0], source)
    deliveries = [Delivery(event, offset, offset + 1) for offset, (_, event) in enumerate(recorded)]
    applied = await projector.apply(source, 0, 0, deliveries)
    if applied != Applied(len(recorded)):
        raise AssertionError(f"{applied} of a batch of {len(recorded)}")


async def dump(read_model: ReadModel) -> Rows:
    """Every row of every portfolio table, normalised across databases, sorted."""
    projection = PortfolioProjection()
    rows: Rows = {}
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


def sets_history(catalogue: Any, ids: Any, recorder: Any) -> Recorded:
    """Two pupils' recommendation sets, interleaved, each set unlike the one it supersedes (the
    last of pupil a without the outlooks of version 2, as a version 1 set reads): which set of
    a season is left decides every column of its rows."""
    a, b = ids.pupil("a"), ids.pupil("b")
    smart, creative, healthy = Environment.SMART, Environment.CREATIVE, Environment.HEALTHY
    order = [(a, smart), (b, smart), (a, creative), (b, healthy), (a, healthy)]
    previous: dict[Any, Any] = {}
    events = []
    for number, (pupil, environment) in enumerate(order):
        set_id = ids.uid(f"recommendations:{number}")
        event = catalogue.recommendations(pupil, set_id, previous.get(pupil))
        update: dict[str, Any] = {"leading_environments": (environment,)}
        if number == 4:
            update.update(environment_scores=None, profile_classes=None, routes=None)
        events.append(event.model_copy(update=update))
        previous[pupil] = set_id
    return [recorder.record(event) for event in events]


async def record_world(
    stores: Mapping[str, EventStore], catalogue: Any, ids: Any, recorder: Any
) -> None:
    """`world_history`, appended to the source stores, one append per event."""
    for source, event in await world_history(catalogue, ids, recorder):
        new = NewEvent(event.type, event.data, event.metadata, event.event_id)
        await stores[source].append(event.stream_id, [new])


@dataclass
class RecordedWorld:
    """The world (`record_world`) in the source stores of a test's settings, and the read models
    the test catches up live on them or rebuilds from them: all of them closed, their
    PostgreSQL schemas dropped, when `opened` (the fixture's) closes."""

    settings: PortfolioSettings
    stores: Mapping[str, EventStore]
    opened: AsyncExitStack

    @classmethod
    async def record(
        cls,
        settings: PortfolioSettings,
        catalogue: Any,
        ids: Any,
        recorder: Any,
        opened: AsyncExitStack,
    ) -> "RecordedWorld":
        """The world appended to the settings' source stores, its names sealed with the
        settings' key store (as the services' would be, so that what the test starts opens
        them)."""
        stores = await open_sources(settings)
        for store in stores.values():
            opened.push_async_callback(store.close)
        keys = await open_key_store(settings)
        opened.push_async_callback(keys.close)
        catalogue.cipher = FieldCipher(keys)
        await record_world(stores, catalogue, ids, recorder)
        return cls(settings, stores, opened)

    async def read_model(self) -> ReadModel:
        """The settings' own read model: the one `bvb portfolio rebuild` rebuilds."""
        read_model = await open_read_model(self.settings)
        self.opened.push_async_callback(read_model.close)
        return read_model

    async def postgres_read_model(self, database_url: str) -> PostgresReadModel:
        """A read model in a fresh schema of its own."""
        schema = f"pf{uuid.uuid4().hex[:12]}"
        self.opened.push_async_callback(drop_schema, database_url, schema)
        read_model = await PostgresReadModel.open(database_url, schema=schema)
        self.opened.push_async_callback(read_model.close)
        return read_model

    async def caught_up(self, read_model: ReadModel) -> Rows:
        """The read model caught up live on the stores; its rows, which a rebuild must leave."""
        await EmbeddedFeed(read_model, PortfolioProjection(), self.stores).catch_up({})
        return await dump(read_model)


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
