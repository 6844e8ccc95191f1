"""Properties of the consent decider, over generated sequences of commands (hypothesis).

Given any sequence of commands for one participant, some of them refused, then:
- the events of the accepted ones, written to the store and read back, fold from `initial` to
  the state their decisions reached;
- the read model's list tells the participant's consent state as the single status does;
- a refused command is refused with the service's `DomainError` (never another exception),
  decides nothing and leaves the state as it was;
- erasing an erased participant's data again decides nothing.
Commands are generated as the application can send them (a form version the API accepts, an
erasure period from the settings); days jump back and forth, as replicas' clocks may.
"""

import asyncio
import copy
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bilet.application.eventlog import EventLog
from bilet.contracts import (
    CATALOGUE,
    DomainEvent,
    EventMetadata,
    SealedValue,
    encode,
    sealed_fields,
)
from bilet.contracts.catalogue.consent import Purpose, RejectionReason, Relationship
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.examples import sealed
from bilet.eventstore import ANY
from bilet.eventstore.memory import InMemoryEventStore
from bilet.projections import EmbeddedFeed
from bilet.projections.sqlite import SqliteReadModel
from bilet_consent.application.lists import ConsentLists, Scope
from bilet_consent.application.participants import ParticipantFactsProjection
from bilet_consent.application.queries import _status_label, scheduled_erasure
from bilet_consent.domain import consent as consents
from bilet_consent.domain.consent import (
    Command,
    EraseParticipant,
    RejectConsent,
    SubmitConsent,
    VerifyConsent,
    WithdrawConsent,
)
from bilet_consent.domain.errors import DomainError
from bilet_consent.domain.guardian import Authority, Contact, Guardian, GuardianName, Passport
from bilet_consent.domain.internal import INTERNAL_CATEGORIES, INTERNAL_EVENTS

T = TypeVar("T")

# Fixed, so CI runs the same examples every time; no example database left in the checkout.
PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True, database=None)
MAX_COMMANDS = 20
LOG = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)
ERASURE_DAYS = 30

PUPIL = UUID("5a5a5a5a-0000-4000-8000-000000000001")
SCHOOL = UUID("5b5b5b5b-0000-4000-8000-000000000001")
# Few ids, so commands meet the consents that earlier ones submitted.
CONSENT_IDS = st.sampled_from(tuple(UUID(f"5c5c5c5c-0000-4000-8000-00000000000{n}") for n in "12"))
GUARDIAN_IDS = st.sampled_from(tuple(UUID(f"5d5d5d5d-0000-4000-8000-00000000000{n}") for n in "12"))
# Within the first consent's year, after it, and long after: verifying, expiring, erasing.
DAYS = st.sampled_from(
    (date(2019, 9, 20), date(2019, 10, 25), date(2020, 9, 15), date(2020, 10, 20), date(2023, 1, 9))
)
PARENT = Guardian(
    GuardianName("Соколова", "Ирина", "Викторовна"),
    Passport("4105", "731592", "ТП № 1", date(2010, 3, 15)),
    None,
    Contact("+79211234567", None),
)
CUSTODIAN = Guardian(
    GuardianName("Петров", "Олег", None),
    Passport("4006", "123456", "ТП № 2", date(2012, 5, 4)),
    Authority("Распоряжение органа опеки", "17/2019", date(2019, 1, 10)),
    Contact(None, "opeka@example.org"),
)


@st.composite
def mostly(draw: st.DrawFn, good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> T:
    """Good values seven times in eight, so that sequences get past their first refusal."""
    return draw(bad if draw(st.integers(0, 7)) == 7 else good)


ANY_PURPOSES = st.lists(st.sampled_from(tuple(Purpose)), max_size=4).map(tuple)
# What a guardian may withdraw and keep the rest: a purpose on its own, or a few of them.
SOME_PURPOSES = st.sampled_from(
    ((Purpose.HEALTH_DATA,), (Purpose.PORTFOLIO, Purpose.RECOMMENDATIONS), (Purpose.CAREER_EVENTS,))
)


@st.composite
def submissions(draw: st.DrawFn) -> SubmitConsent:
    today = draw(DAYS)
    signed_on = today - timedelta(days=draw(mostly(st.integers(0, 30), st.just(-1))))
    lasts = draw(mostly(st.sampled_from((365, 200, 3 * 366)), st.sampled_from((-1, 3 * 366 + 1))))
    participation = draw(mostly(st.just((Purpose.PROGRAMME_PARTICIPATION,)), st.just(())))
    relationship = draw(st.sampled_from(tuple(Relationship)))
    representative = relationship in consents.REPRESENTATIVES
    return SubmitConsent(
        participant_id=PUPIL,
        consent_id=draw(CONSENT_IDS),
        document_id=draw(st.uuids(version=4)),
        school_id=SCHOOL,
        form_version="2019-1",
        purposes=(*participation, *draw(mostly(st.just(tuple(Purpose)), ANY_PURPOSES))),
        signed_on=signed_on,
        valid_until=signed_on + timedelta(days=lasts),
        guardian_id=draw(GUARDIAN_IDS),
        relationship=relationship,
        guardian=draw(mostly(st.just(CUSTODIAN if representative else PARENT), st.just(PARENT))),
        today=today,
    )


VERIFICATIONS = st.builds(
    VerifyConsent,
    consent_id=CONSENT_IDS,
    today=DAYS,
    guardian_full_name=st.just(PARENT.name.plain()),
    guardian_contact=st.just(PARENT.contact.plain()),
)
REJECTIONS = st.builds(
    RejectConsent,
    consent_id=CONSENT_IDS,
    reasons=mostly(
        st.lists(st.sampled_from(tuple(RejectionReason)), min_size=1, max_size=3), st.just([])
    ).map(tuple),
)
WITHDRAWALS = st.builds(
    WithdrawConsent,
    consent_id=CONSENT_IDS,
    today=DAYS,
    erasure_days=st.just(ERASURE_DAYS),
    # None or with programme participation: the whole consent; else some purposes, or none.
    purposes=st.one_of(st.none(), SOME_PURPOSES, ANY_PURPOSES),
)
ERASURES = st.builds(
    EraseParticipant,
    now=DAYS.map(lambda day: datetime.combine(day, time(3), UTC)),
    erasure_days=st.just(ERASURE_DAYS),
)
COMMANDS: st.SearchStrategy[Command] = st.one_of(
    submissions(), VERIFICATIONS, REJECTIONS, WITHDRAWALS, ERASURES
)


def as_stored(decided: Sequence[Decided]) -> list[DomainEvent]:
    """The decided events sealed (with a fixed envelope per field: the fold never opens one)."""
    return [
        d.sealed_with({name: SealedValue.model_validate(sealed(name)) for name in d.personal})
        if isinstance(d, Unsealed)
        else d
        for d in decided
    ]


def read_back(event: DomainEvent) -> DomainEvent:
    """The event as a later load reads it: encoded as the store keeps it, then decoded."""
    return LOG.decode(LOG.encode(event, EventMetadata()), event.stream_id)


@PROPERTIES
@given(data=st.data())
def test_any_commands_replay_from_the_store_refusals_change_nothing_erasing_twice_decides_nothing(
    data: st.DataObject,
) -> None:
    state = consents.initial(PUPIL)
    as_it_was = copy.deepcopy(state)  # out of decide's reach, to tell whether it changed state
    stored: list[DomainEvent] = []
    for _ in range(data.draw(st.integers(0, MAX_COMMANDS), label="commands")):
        command = data.draw(COMMANDS)
        try:
            decided = consents.decide(command, state)
        except DomainError:
            assert state == as_it_was  # refused: nothing decided, nothing changed
            continue
        for event in as_stored(decided):
            assert isinstance(event, consents.ConsentStreamEvent)
            assert event.stream_id == consents.stream_id(PUPIL)
            state = consents.evolve(state, event)
            stored.append(event)
        as_it_was = copy.deepcopy(state)
        if isinstance(command, EraseParticipant):
            assert consents.decide(command, state) == []
    assert consents.fold(PUPIL, [read_back(event) for event in stored]) == state


LISTED = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
REGION = UUID("5e5e5e5e-0000-4000-8000-000000000001")


async def _listed_and_told(
    tmp: Path, stored: Sequence[DomainEvent], today: date
) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """The participant's state as the list reads it from the read model fed with `stored`, and as
    the single status tells it from the stream."""
    identity, store = InMemoryEventStore(), InMemoryEventStore()
    registered = ParticipantRegistered(
        participant_id=PUPIL,
        school_id=SCHOOL,
        region_id=REGION,
        season=2019,
        grade=7,
        **{n: SealedValue.model_validate(sealed(n)) for n in sealed_fields(ParticipantRegistered)},
    )
    await identity.append(registered.stream_id, [encode(registered, EventMetadata())], ANY)
    for event in stored:
        await store.append(event.stream_id, [LOG.encode(event, EventMetadata())], ANY)
    read_model = await SqliteReadModel.open(tmp / f"{uuid4().hex}.sqlite3")
    try:
        feed = EmbeddedFeed(
            read_model,
            ParticipantFactsProjection(),
            {"identity": identity, "consent": store},
            event_types=CATALOGUE.event_types(),
        )
        await feed.catch_up({})
        rows = await ConsentLists(read_model).states(
            Scope(SCHOOL, None), frozenset(), None, 10, today, ERASURE_DAYS
        )
    finally:
        await read_model.close()
    (row,) = rows
    listed = (
        row.state.value,
        row.consent_id,
        row.valid_until,
        row.erase_by,
        row.pending_consents,
        row.purposes,
    )
    state = consents.fold(PUPIL, list(stored))
    label, shown = _status_label(state, today)
    told = (
        label,
        shown.consent_id if shown is not None else None,
        shown.valid_until if shown is not None else None,
        scheduled_erasure(state, today, ERASURE_DAYS),
        sum(1 for c in state.consents if c.status is consents.Status.PENDING),
        tuple(p for p in Purpose if p in shown.effective_purposes)
        if label == "verified" and shown is not None
        else (),
    )
    return listed, told


@LISTED
@given(data=st.data())
def test_the_list_tells_every_state_as_the_single_status_does(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever the commands, the read model's state of the participant (`lists.states`, SQL over
    the mirrored statuses) is the one `GET …/status` folds from the stream, on any day."""
    state = consents.initial(PUPIL)
    stored: list[DomainEvent] = []
    for _ in range(data.draw(st.integers(0, MAX_COMMANDS), label="commands")):
        try:
            decided = consents.decide(data.draw(COMMANDS), state)
        except DomainError:
            continue
        for event in as_stored(decided):
            assert isinstance(event, consents.ConsentStreamEvent)
            state = consents.evolve(state, event)
            stored.append(event)
    today = data.draw(DAYS, label="today")
    tmp = tmp_path_factory.mktemp("lists")
    listed, told = asyncio.run(_listed_and_told(tmp, stored, today))
    assert listed == told
