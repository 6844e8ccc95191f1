"""Properties of every identity decider, over generated sequences of commands (hypothesis).

Given any sequence of commands, some of them refused, then:
- the events of the accepted ones, written to the store and read back, replay from `initial` to
  the state their decisions reached;
- a refused command is refused with the service's `DomainError` (never another exception),
  decides nothing and leaves the state as it was;
- a command that is documented to decide nothing when what it asks already holds decides
  nothing when it is sent again.
Commands are generated as the application can send them: values in the ranges the API accepts,
keys that the application computes, and what the application reads (the plaintext in force, the
season's rules) filled in from the stream as it stands.
"""

import copy
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilet.application.eventlog import EventLog
from bilet.contracts import DomainEvent, EventMetadata, SealedValue
from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.catalogue.identity import CorrectionReason, DepartureReason
from bilet.contracts.drafts import Decided, Unsealed
from bilet.contracts.examples import sealed
from bilet.contracts.vocabulary import AccessibilityNeed, Stage
from bilet_identity.domain import (
    accounts,
    participant,
    profile,
    region,
    reservation,
    school,
    season,
)
from bilet_identity.domain.accounts import BindGuardian, BindPupil, IssueCode, RedeemCode
from bilet_identity.domain.errors import DomainError
from bilet_identity.domain.internal import (
    INTERNAL_CATEGORIES,
    INTERNAL_EVENTS,
    BindingPurpose,
    ReviewOutcome,
)
from bilet_identity.domain.participant import (
    CorrectDetails,
    EnrolInSeason,
    Leave,
    MergeInto,
    MoveToSchool,
    Participant,
    RegisterParticipant,
)
from bilet_identity.domain.people import (
    NO_LIMITATIONS,
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
)
from bilet_identity.domain.profile import (
    ChangeReservationKey,
    IndexSurname,
    LinkGuardian,
    RecordClassLetter,
    RecordProfile,
    UnlinkGuardian,
)
from bilet_identity.domain.region import AdmitRegion, Region, ScheduleDiagnosticsWindow
from bilet_identity.domain.reservation import Release, RequestReview, Reserve, ResolveReview
from bilet_identity.domain.school import RegisterSchool, School, school_id_for
from bilet_identity.domain.season import PublishSeasonRules, SeasonRules
from bilet_identity.domain.snils import Snils

C = TypeVar("C")
S = TypeVar("S")
T = TypeVar("T")

# Fixed, so CI runs the same examples every time; no example database left in the checkout.
PROPERTIES = settings(max_examples=150, deadline=None, derandomize=True, database=None)
MAX_COMMANDS = 12
LOG = EventLog(INTERNAL_EVENTS, INTERNAL_CATEGORIES)


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    """A decider under test: its functions, one stream of it, and the commands sent to it."""

    name: str
    decide: Callable[[C, S], Sequence[Decided]]
    evolve: Callable[[S, Any], S]
    initial: S
    stream_id: str
    commands: st.SearchStrategy[C]
    # Commands that decide nothing when what they ask holds already.
    idempotent: tuple[type, ...] = ()
    # What the application adds to a command from what it read: (command, state, decided so far).
    as_sent: Callable[[C, S, Sequence[Decided]], C] = lambda command, _state, _decided: command


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


def check(decider: Decider[C, S], data: st.DataObject) -> None:
    """Send a generated sequence of commands to one stream, checking each property on the way."""
    state = decider.initial
    as_it_was = copy.deepcopy(state)  # out of decide's reach, to tell whether it changed state
    decided_so_far: list[Decided] = []
    stored: list[DomainEvent] = []
    for _ in range(data.draw(st.integers(0, MAX_COMMANDS), label="commands")):
        command = decider.as_sent(data.draw(decider.commands), state, decided_so_far)
        try:
            decided = decider.decide(command, state)
        except DomainError:
            assert state == as_it_was  # refused: nothing decided, nothing changed
            continue
        for event in as_stored(decided):
            assert event.stream_id == decider.stream_id
            state = decider.evolve(state, event)
            stored.append(event)
        as_it_was = copy.deepcopy(state)
        decided_so_far.extend(decided)
        if isinstance(command, decider.idempotent):
            again = decider.as_sent(command, state, decided_so_far)
            assert decider.decide(again, state) == []
    replayed = functools.reduce(decider.evolve, map(read_back, stored), decider.initial)
    assert replayed == state


@st.composite
def mostly(draw: st.DrawFn, good: st.SearchStrategy[T], bad: st.SearchStrategy[T]) -> T:
    """Good values seven times in eight, so that sequences get past their first refusal."""
    return draw(bad if draw(st.integers(0, 7)) == 7 else good)


def key(text: str) -> str:
    """A keyed hash as the application computes it (the domain only compares them)."""
    return hashlib.sha256(text.encode()).hexdigest()


def ids(prefix: str, count: int) -> tuple[UUID, ...]:
    return tuple(UUID(f"{prefix}000000-0000-4000-8000-{n:012d}") for n in range(1, count + 1))


STAGES = tuple(Stage)
SOME_STAGES = st.lists(st.sampled_from(STAGES), min_size=1, max_size=3, unique=True).map(tuple)
ANY_STAGES = st.lists(st.sampled_from(STAGES), max_size=4).map(tuple)
RULES = {
    2019: SeasonRules(2019, 1, 6, 11, 3, STAGES, date(2019, 9, 1), date(2020, 5, 31)),
    2020: SeasonRules(2020, 2, 5, 11, 2, STAGES[:2], date(2020, 9, 1), date(2021, 5, 31)),
}
# 2021: no rules published yet; 2018: before any.
SEASONS = mostly(st.sampled_from((2019, 2020)), st.sampled_from((2021, 2018)))
GRADES = st.integers(1, 11)


# ---------------------------------------------------------------------- season rules
PUBLISH = st.builds(
    PublishSeasonRules,
    season=st.just(2019),
    lowest_grade=mostly(st.sampled_from((6, 5, 1)), st.sampled_from((0, 12))),
    highest_grade=mostly(st.sampled_from((11, 9)), st.sampled_from((4, 12))),
    max_career_events=mostly(st.sampled_from((3, 1, 10)), st.sampled_from((0, 11))),
    diagnostics_stages=mostly(SOME_STAGES, ANY_STAGES),
    starts_on=mostly(
        st.sampled_from((date(2019, 9, 1), date(2019, 8, 26))), st.just(date(2018, 9, 1))
    ),
    ends_on=mostly(
        st.sampled_from((date(2020, 5, 31), date(2020, 6, 30))), st.just(date(2019, 8, 1))
    ),
)
SEASON = Decider(
    "season",
    season.decide,
    season.evolve,
    season.initial,
    season.stream_id(2019),
    PUBLISH,
    idempotent=(PublishSeasonRules,),
)


# ---------------------------------------------------------------------- regions
@st.composite
def diagnostics_windows(draw: st.DrawFn) -> ScheduleDiagnosticsWindow:
    year = draw(SEASONS)
    rules = RULES.get(year)
    if rules is not None and draw(mostly(st.just(True), st.just(False))):
        opens_on = draw(st.dates(rules.starts_on, rules.ends_on - timedelta(days=21)))
        closes_on = opens_on + timedelta(days=draw(st.sampled_from((0, 20, 21))))
        stages = draw(mostly(SOME_STAGES, ANY_STAGES))
    else:
        opens_on = draw(st.dates(date(2018, 6, 1), date(2022, 6, 30)))
        closes_on = draw(st.dates(date(2018, 6, 1), date(2022, 6, 30)))
        stages = draw(ANY_STAGES)
    region_id = region.region_id_for("47")
    return ScheduleDiagnosticsWindow(region_id, year, stages, opens_on, closes_on, rules)


@st.composite
def admissions(draw: st.DrawFn) -> AdmitRegion:
    year = draw(SEASONS)
    return AdmitRegion(
        region_code="47",
        name=draw(mostly(st.sampled_from(("Ленинградская область", "ЛО")), st.just(""))),
        season=year,
        time_zone=draw(mostly(st.just("Europe/Moscow"), st.sampled_from(("Moscow", "")))),
        coordinator=draw(mostly(st.just("Комитет общего образования"), st.just("x" * 301))),
        rules=RULES.get(year),
    )


REGION = Decider(
    "region",
    region.decide,
    region.evolve,
    region.initial,
    region.stream_id(region.region_id_for("47")),
    st.one_of(admissions(), diagnostics_windows()),
    idempotent=(ScheduleDiagnosticsWindow,),
)


# ---------------------------------------------------------------------- schools
LENINGRAD = Region(
    region.region_id_for("47"), "47", "ЛО", "Europe/Moscow", "Ц", frozenset({2019, 2020})
)
SPB = Region(region.region_id_for("78"), "78", "СПб", "Europe/Moscow", "Ц", frozenset({2019}))
MOSCOW = Region(region.region_id_for("77"), "77", "Москва", "Europe/Moscow", "Ц", frozenset())
REGIONS = {r.region_id: r for r in (LENINGRAD, SPB, MOSCOW)}
# Spellings of one school: its id folds case, spaces and «ё», so they all meet in one stream.
SCHOOL_NAMES = ("МОУ «СОШ № 3»", "моу  «сош № 3» ", "МОУ «СОШ №  3»")
MUNICIPALITIES = ("Лужский муниципальный район", "ЛУЖСКИЙ муниципальный район ")
REGISTER_SCHOOL = st.builds(
    RegisterSchool,
    region=mostly(
        st.just(LENINGRAD), st.sampled_from((None, replace(LENINGRAD, seasons=frozenset())))
    ),
    name=st.sampled_from(SCHOOL_NAMES),
    municipality=st.sampled_from(MUNICIPALITIES),
)
SCHOOL = Decider(
    "school",
    school.decide,
    school.evolve,
    school.initial,
    school.stream_id(school_id_for(LENINGRAD.region_id, MUNICIPALITIES[0], SCHOOL_NAMES[0])),
    REGISTER_SCHOOL,
)


# ---------------------------------------------------------------------- reservations
CHILD = key("the child's СНИЛС")
HOLDERS = ids("aa", 3)
PERSONS = (key("Соколова Дарья 2007-04-12"), key("Соколова Дарья 2007-04-21"))
RESERVATION = Decider(
    "reservation",
    reservation.decide,
    reservation.evolve,
    reservation.initial,
    reservation.stream_id(CHILD),
    st.one_of(
        st.builds(Reserve, st.just(CHILD), st.sampled_from(HOLDERS), st.sampled_from(PERSONS)),
        st.builds(Release, st.just(CHILD), st.sampled_from(HOLDERS)),
        st.builds(
            RequestReview,
            st.just(CHILD),
            st.sampled_from(ids("bb", 2)),
            st.sampled_from(PERSONS),
            st.sampled_from((None, key("another СНИЛС"))),
        ),
        st.builds(
            ResolveReview,
            st.just(CHILD),
            st.integers(0, 3),
            st.sampled_from(ReviewOutcome),
            st.sampled_from((None, *HOLDERS)),
        ),
    ),
    idempotent=(Reserve, Release),
)


# ---------------------------------------------------------------------- profiles
PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
RESERVATION_KEYS = st.sampled_from(tuple(key(f"СНИЛС {n}") for n in range(3)))
# A surname's blind index: one keyed hash per prefix (two surnames, sharing a first letter).
SURNAME_KEYS = st.sampled_from(((key("и"), key("ив")), (key("и"), key("иг"), key("игн"))))
PROFILE = Decider(
    "profile",
    profile.decide,
    profile.evolve,
    profile.initial,
    profile.stream_id(PID),
    st.one_of(
        st.builds(
            RecordProfile,
            st.just(PID),
            RESERVATION_KEYS,
            st.sampled_from(tuple(REGIONS)),
            st.sampled_from(("RU", "BY")),
            st.booleans(),
            SURNAME_KEYS,
            st.sampled_from((None, "А")),
        ),
        st.builds(IndexSurname, st.just(PID), SURNAME_KEYS),
        st.builds(RecordClassLetter, st.just(PID), st.sampled_from((None, "А", "Б"))),
        st.builds(ChangeReservationKey, st.just(PID), RESERVATION_KEYS),
        # More guardians than a profile may link, so the limit is met.
        st.builds(
            LinkGuardian,
            st.just(PID),
            st.sampled_from(ids("cc", profile.MAX_GUARDIANS + 2)),
            st.sampled_from(tuple(Relationship)),
        ),
        st.builds(
            UnlinkGuardian, st.just(PID), st.sampled_from(ids("cc", profile.MAX_GUARDIANS + 2))
        ),
    ),
    idempotent=(ChangeReservationKey, IndexSurname, RecordClassLetter, LinkGuardian),
)


# ---------------------------------------------------------------------- participants
SCHOOL_3, SCHOOL_5, SPB_SCHOOL, MOSCOW_SCHOOL = (
    School(school_id, r.region_id, f"СОШ {n}", "М")
    for n, (school_id, r) in enumerate(
        zip(ids("dd", 4), (LENINGRAD, LENINGRAD, SPB, MOSCOW), strict=True)
    )
)
SCHOOLS = {s.school_id: s for s in (SCHOOL_3, SCHOOL_5, SPB_SCHOOL, MOSCOW_SCHOOL)}
NAMES = st.sampled_from((FullName("Соколова", "Дарья", "Андреевна"), FullName("Иванов", "Пётр")))
# Mostly a pupil's age in 2019 and 2020; now and then one too old or too young.
BIRTH_DATES = mostly(
    st.dates(date(2003, 1, 1), date(2012, 12, 31)),
    st.sampled_from((date(1990, 1, 1), date(2016, 1, 1))),
)
SNILSES = st.sampled_from((Snils.parse("112-233-445 95"), Snils.parse("001-001-997 00")))
HEALTH = st.sampled_from(
    (NO_LIMITATIONS, HealthLimitations(True, HealthLimitationKind.VISION), HealthLimitations(True))
)
NEEDS = mostly(
    st.lists(st.sampled_from(tuple(AccessibilityNeed)), max_size=2, unique=True),
    st.lists(st.sampled_from(tuple(AccessibilityNeed)), min_size=2, max_size=3),
).map(tuple)
RESIDENCES = mostly(st.just(LENINGRAD), st.sampled_from((SPB, MOSCOW, None)))
CITIZENSHIPS = mostly(st.just("RU"), st.sampled_from(("BY", "ru")))
# What the application fills in from what it reads stands in these until it does.
UNREAD_DETAILS = PersonalDetails(FullName("-", "-"), date(2000, 1, 1), Snils("00000000000"))


@st.composite
def registrations(draw: st.DrawFn) -> RegisterParticipant:
    year = draw(mostly(st.just(2019), SEASONS))
    at = draw(mostly(st.just(SCHOOL_3), st.sampled_from((SCHOOL_5, SPB_SCHOOL, MOSCOW_SCHOOL))))
    known = draw(mostly(st.just(True), st.just(False)))
    return RegisterParticipant(
        participant_id=PID,
        season=year,
        school=at if known else None,
        school_region=REGIONS[at.region_id],
        residence=draw(RESIDENCES),
        rules=RULES.get(year),
        details=PersonalDetails(draw(NAMES), draw(BIRTH_DATES), draw(SNILSES), draw(HEALTH)),
        grade=draw(mostly(st.integers(6, 11), GRADES)),
        citizenship=draw(CITIZENSHIPS),
        accessibility_needs=draw(NEEDS),
    )


def maybe(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.one_of(st.none(), values)


CORRECTIONS = st.builds(
    CorrectDetails,
    participant_id=st.just(PID),
    reason=st.sampled_from(tuple(CorrectionReason)),
    current=st.just(UNREAD_DETAILS),
    rules=st.none(),
    full_name=maybe(NAMES),
    birth_date=maybe(BIRTH_DATES),
    snils=maybe(SNILSES),
    health=maybe(HEALTH),
    grade=maybe(GRADES),
    accessibility_needs=maybe(NEEDS),
)
MOVES = st.builds(
    MoveToSchool,
    participant_id=st.just(PID),
    to_school=mostly(st.sampled_from(tuple(SCHOOLS.values())), st.none()),
    grade=maybe(GRADES),
)
ENROLMENTS = st.builds(
    EnrolInSeason,
    participant_id=st.just(PID),
    season=mostly(st.just(2020), SEASONS),
    rules=st.none(),
    school=st.just(SCHOOL_3),
    school_region=st.none(),
    residence=RESIDENCES,
    citizenship=CITIZENSHIPS,
    grade=mostly(st.integers(6, 11), GRADES),
)


def details_in_force(decided: Sequence[Decided]) -> PersonalDetails:
    """The participant's plaintext as the application opens it: the latest value of each field."""
    plain: dict[str, Any] = {}
    for draft in decided:
        if isinstance(draft, Unsealed):
            plain.update(draft.personal)
    if not plain:
        return UNREAD_DETAILS
    health = plain["health_limitations"]
    kind = None if health["kind"] is None else HealthLimitationKind(health["kind"])
    return PersonalDetails(
        FullName(**plain["full_name"]),
        date.fromisoformat(plain["birth_date"]),
        Snils.parse(plain["snils"]),
        HealthLimitations(health["has_limitations"], kind),
        tuple(AccessibilityNeed(need) for need in plain["accessibility_needs"]),
    )


def participant_as_sent(
    command: participant.Command, state: Participant | None, decided: Sequence[Decided]
) -> participant.Command:
    match command:
        case CorrectDetails():
            rules = None if state is None else RULES.get(state.season)
            return replace(command, current=details_in_force(decided), rules=rules)
        case EnrolInSeason() if state is not None:
            at = SCHOOLS[state.school_id]  # a later season starts at the current school
            rules = RULES.get(command.season)
            return replace(command, school=at, school_region=REGIONS[at.region_id], rules=rules)
        case EnrolInSeason():
            return replace(command, rules=RULES.get(command.season))
        case _:
            return command


PARTICIPANT = Decider(
    "participant",
    participant.decide,
    participant.evolve,
    participant.initial,
    participant.stream_id(PID),
    st.one_of(
        registrations(),
        CORRECTIONS,
        MOVES,
        ENROLMENTS,
        st.builds(MergeInto, st.just(PID), st.sampled_from((PID, *ids("cc", 2)))),
        st.builds(Leave, st.just(PID), st.sampled_from(tuple(DepartureReason))),
    ),
    idempotent=(CorrectDetails,),
    as_sent=participant_as_sent,
)


# ---------------------------------------------------------------------- accounts (ADR 0053)
CODE_KEY = key("7KQ2M9XD4H01")
ACCOUNT_KEYS = st.sampled_from(tuple(key(f"subject {n}") for n in range(2)))
ISSUED_AT = datetime(2019, 9, 2, 9, 0, tzinfo=UTC)
PURPOSES = st.sampled_from(tuple(BindingPurpose))
BINDING_CODE = Decider(
    "binding_code",
    accounts.decide_code,
    accounts.evolve_code,
    accounts.initial_code,
    accounts.code_stream_id(CODE_KEY),
    st.one_of(
        st.builds(
            IssueCode,
            code_key=st.just(CODE_KEY),
            purpose=PURPOSES,
            participant_id=st.sampled_from(ids("cc", 2)),
            expires_at=st.just(ISSUED_AT + timedelta(days=14)),
            consent_id=st.sampled_from((None, *ids("dd", 1))),
        ),
        st.builds(
            RedeemCode,
            code_key=st.just(CODE_KEY),
            account_key=ACCOUNT_KEYS,
            purpose=PURPOSES,
            now=mostly(st.just(ISSUED_AT), st.just(ISSUED_AT + timedelta(days=15))),
        ),
    ),
)
ACCOUNT_KEY = key("subject 0")
ACCOUNT = Decider(
    "account",
    accounts.decide_account,
    accounts.evolve_account,
    accounts.initial_account(ACCOUNT_KEY),
    accounts.account_stream_id(ACCOUNT_KEY),
    st.one_of(
        st.builds(
            BindPupil,
            account_key=st.just(ACCOUNT_KEY),
            participant_id=st.sampled_from(ids("cc", 2)),
        ),
        st.builds(
            BindGuardian,
            account_key=st.just(ACCOUNT_KEY),
            participant_id=st.sampled_from(ids("cc", 2)),
            consent_id=st.sampled_from(ids("dd", 2)),
        ),
    ),
    idempotent=(BindPupil, BindGuardian),
)


@pytest.mark.parametrize(
    "decider",
    [SEASON, REGION, SCHOOL, RESERVATION, PROFILE, PARTICIPANT, BINDING_CODE, ACCOUNT],
    ids=lambda decider: decider.name,
)
@PROPERTIES
@given(data=st.data())
def test_any_commands_replay_from_the_store_refusals_change_nothing_repeats_decide_nothing(
    decider: Decider[Any, Any], data: st.DataObject
) -> None:
    check(decider, data)
