"""The identity service's use cases.

Commands (one handler each; they fail loudly): load the streams they decide on, fold them, decide,
seal the personal plaintext with the participant's key, append with the expected versions (several
streams in one atomic append where one decision spans them), and retry the whole thing when
another writer was faster. They return the store position of their commit: the read-your-writes
token. Queries read the small catalogue view (`catalogue`) or fold a participant's streams.
Every read or write of personal data is audited (`bilet.audit`), by ids only.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final
from uuid import UUID, uuid4

from bilet.application import Loaded, Part, RequestContext, retrying
from bilet.audit import Access, AuditLog
from bilet.contracts.catalogue.consent import Relationship
from bilet.contracts.catalogue.identity import CorrectionReason
from bilet.contracts.vocabulary import AccessibilityNeed, Stage
from bilet.crypto import FieldCipher
from bilet.eventstore import (
    NO_STREAM,
    AppendResult,
    EventIdsConflict,
    EventStore,
    ExpectedVersion,
    WrongExpectedVersion,
    category_of,
)
from bilet.http.auth import Role
from bilet_identity.application import access
from bilet_identity.application.access import Visibility
from bilet_identity.application.catalogue import CatalogueView, ReviewRequest
from bilet_identity.application.classlist import ParsedRow, PupilRow, parse_class_list
from bilet_identity.application.details import Personal, personal_of
from bilet_identity.application.errors import (
    DuplicateRefused,
    ParticipantErasedError,
    VersionConflict,
)
from bilet_identity.application.eventlog import EVENT_LOG
from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.domain import participant as participants
from bilet_identity.domain import profile as profiles
from bilet_identity.domain import region as regions
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain import school as schools
from bilet_identity.domain import season as seasons
from bilet_identity.domain.errors import (
    DomainError,
    DuplicateNeedsReview,
    DuplicateParticipant,
    ParticipantExists,
    UnknownParticipant,
    UnknownRegion,
    UnknownSchool,
    UnknownSeason,
)
from bilet_identity.domain.internal import INTERNAL_CATEGORIES
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.people import (
    RUSSIA,
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
    parse_snils,
)
from bilet_identity.domain.profile import Profile
from bilet_identity.domain.region import Region
from bilet_identity.domain.reservation import Reservation
from bilet_identity.domain.school import School
from bilet_identity.domain.season import PublishSeasonRules, SeasonRules
from bilet_identity.domain.snils import Snils

IMPORT_CHUNK: Final = 500
REGISTRATION_FIELDS: Final = (
    "full_name",
    "birth_date",
    "snils",
    "health_limitations",
    "citizenship",
    "home_schooled",
)


# ---------------------------------------------------------------------- inputs and results
# Who asks, and the correlation id their request carries.
CommandContext = RequestContext


@dataclass(frozen=True)
class Committed:
    """What a command did: the read-your-writes token, and the id and stream version of the
    aggregate it created or changed."""

    position: int
    id: UUID | None = None
    version: int | None = None


def published_position(results: Sequence[AppendResult]) -> int:
    """The read-your-writes position of a commit: its last event on a published stream. Internal
    streams (reservations, profiles, audit) are never relayed, so a reader built from the stream
    would wait forever for a position only they hold."""
    published = [r.position for r in results if category_of(r.stream_id) not in INTERNAL_CATEGORIES]
    return max(published) if published else max(r.position for r in results)


@dataclass(frozen=True)
class PupilInput:
    """A pupil as the school registers them (plaintext; checked by the domain)."""

    last_name: str
    first_name: str
    middle_name: str | None
    birth_date: date
    snils: str
    grade: int
    citizenship: str = RUSSIA
    residence_region_id: UUID | None = None
    home_schooled: bool = False
    has_health_limitations: bool = False
    health_limitation_kind: HealthLimitationKind | None = None
    accessibility_needs: tuple[AccessibilityNeed, ...] = ()
    season: int | None = None

    def __repr__(self) -> str:
        return "PupilInput(<hidden>)"

    @classmethod
    def from_row(cls, row: PupilRow) -> "PupilInput":
        return cls(
            last_name=row.last_name,
            first_name=row.first_name,
            middle_name=row.middle_name,
            birth_date=row.birth_date,
            snils=row.snils,
            grade=row.grade,
            citizenship=row.citizenship,
            residence_region_id=row.residence_region_id,
            home_schooled=row.home_schooled,
            has_health_limitations=row.has_health_limitations,
            health_limitation_kind=row.health_limitation_kind,
            accessibility_needs=row.accessibility_needs,
        )


@dataclass(frozen=True)
class CorrectionInput:
    """What changes; None leaves a detail as it is (an empty middle name removes it)."""

    reason: CorrectionReason = CorrectionReason.TYPING_ERROR
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: date | None = None
    snils: str | None = None
    grade: int | None = None
    has_health_limitations: bool | None = None
    health_limitation_kind: HealthLimitationKind | None = None
    accessibility_needs: tuple[AccessibilityNeed, ...] | None = None

    def __repr__(self) -> str:
        return "CorrectionInput(<hidden>)"


@dataclass(frozen=True)
class ParticipantView:
    participant: Participant
    profile: Profile | None
    version: int
    position: int
    visibility: Visibility
    personal: Personal | None  # None: the caller sees pseudonymous facts only


@dataclass(frozen=True)
class RowOutcome:
    line: int
    status: str  # registered | already_registered | rejected
    participant_id: UUID | None = None
    error: DomainError | None = None


@dataclass(frozen=True)
class ImportReport:
    rows: list[RowOutcome]
    position: int

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)


# ---------------------------------------------------------------------- registration plans
@dataclass
class _SchoolContext:
    school: School
    school_region: Region | None
    rules: SeasonRules | None
    season: int
    regions: dict[UUID, Region | None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    participant_id: UUID
    reservation_key: str
    person_key: str
    parts: tuple[Part, ...]


class _AlreadyRegistered(Exception):
    def __init__(self, participant_id: UUID) -> None:
        self.participant_id = participant_id


class IdentityService:
    def __init__(
        self,
        store: EventStore,
        cipher: FieldCipher,
        audit: AuditLog,
        pseudonymiser: Pseudonymiser,
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.audit = audit
        self.pseudonyms = pseudonymiser
        self.today = today
        self.catalogue = CatalogueView(store)

    # ------------------------------------------------------------------ loading
    async def _season(self, season: int) -> Loaded[SeasonRules | None]:
        return await EVENT_LOG.load(self.store, seasons.stream_id(season), seasons.evolve, None)

    async def _region(self, region_id: UUID) -> Loaded[Region | None]:
        return await EVENT_LOG.load(self.store, regions.stream_id(region_id), regions.evolve, None)

    async def _school(self, school_id: UUID) -> Loaded[School | None]:
        return await EVENT_LOG.load(self.store, schools.stream_id(school_id), schools.evolve, None)

    async def _participant(self, participant_id: UUID) -> Loaded[Participant | None]:
        return await EVENT_LOG.load(
            self.store, participants.stream_id(participant_id), participants.evolve, None
        )

    async def _existing(self, participant_id: UUID) -> Loaded[Participant]:
        loaded = await self._participant(participant_id)
        if loaded.state is None:
            raise UnknownParticipant()
        return Loaded(
            loaded.stream_id, loaded.events, loaded.version, loaded.position, loaded.state
        )

    async def _profile(self, participant_id: UUID) -> Loaded[Profile | None]:
        return await EVENT_LOG.load(
            self.store, profiles.stream_id(participant_id), profiles.evolve, None
        )

    async def _reservation(self, key: str) -> Loaded[Reservation | None]:
        return await EVENT_LOG.load(
            self.store, reservations.stream_id(key), reservations.evolve, None
        )

    # ------------------------------------------------------------------ writing
    async def _append(self, ctx: CommandContext, parts: Sequence[Part]) -> list[AppendResult]:
        return await EVENT_LOG.append(self.store, self.cipher, ctx.metadata(), parts)

    # ------------------------------------------------------------------ the programme
    async def publish_season_rules(
        self, ctx: CommandContext, command: PublishSeasonRules
    ) -> Committed:
        access.require_role(ctx.principal, Role.OPERATOR)

        async def attempt() -> Committed:
            loaded = await self._season(command.season)
            events = seasons.decide(command, loaded.state)
            if not events:
                return Committed(loaded.position, version=loaded.version)
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, loaded.expected)])
            return Committed(result.position, version=result.version)

        return await retrying(attempt, VersionConflict)

    async def admit_region(
        self,
        ctx: CommandContext,
        *,
        region_code: str,
        name: str,
        season: int,
        time_zone: str,
        coordinator: str,
    ) -> Committed:
        access.require_role(ctx.principal, Role.OPERATOR)

        async def attempt() -> Committed:
            rules = (await self._season(season)).state
            command = regions.AdmitRegion(region_code, name, season, time_zone, coordinator, rules)
            loaded = await self._region(command.region_id)
            events = regions.decide(command, loaded.state)
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, loaded.expected)])
            return Committed(result.position, command.region_id, result.version)

        return await retrying(attempt, VersionConflict)

    async def schedule_diagnostics_window(
        self,
        ctx: CommandContext,
        region_id: UUID,
        *,
        season: int,
        stages: tuple[Stage, ...],
        opens_on: date,
        closes_on: date,
    ) -> Committed:
        access.require_operator_or_coordinator_of(ctx.principal, region_id)

        async def attempt() -> Committed:
            rules = (await self._season(season)).state
            loaded = await self._region(region_id)
            command = regions.ScheduleDiagnosticsWindow(
                region_id, season, stages, opens_on, closes_on, rules
            )
            events = regions.decide(command, loaded.state)
            if not events:
                return Committed(loaded.position, region_id, loaded.version)
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, loaded.expected)])
            return Committed(result.position, region_id, result.version)

        return await retrying(attempt, VersionConflict)

    async def register_school(
        self, ctx: CommandContext, region_id: UUID, *, name: str, municipality: str
    ) -> Committed:
        access.require_coordinator_of(ctx.principal, region_id)

        async def attempt() -> Committed:
            region = (await self._region(region_id)).state
            command = schools.RegisterSchool(region, name, municipality)
            school_id = command.school_id(region_id)
            loaded = await self._school(school_id)
            events = schools.decide(command, loaded.state)
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, NO_STREAM)])
            return Committed(result.position, school_id, result.version)

        return await retrying(attempt, VersionConflict)

    # ------------------------------------------------------------------ registration
    async def _school_context(self, school_id: UUID, season: int | None) -> _SchoolContext:
        school = (await self._school(school_id)).state
        if school is None:
            raise UnknownSchool()
        school_region = (await self._region(school.region_id)).state
        if season is None:
            await self.catalogue.refresh()
            current = self.catalogue.season_for(self.today())
            if current is None:
                raise UnknownSeason(self.today().year)
            season = current.season
        rules = (await self._season(season)).state
        return _SchoolContext(
            school, school_region, rules, season, {school.region_id: school_region}
        )

    async def _region_cached(self, context: _SchoolContext, region_id: UUID) -> Region | None:
        if region_id not in context.regions:
            context.regions[region_id] = (await self._region(region_id)).state
        return context.regions[region_id]

    async def _plan_registration(
        self,
        ctx: CommandContext,
        context: _SchoolContext,
        pupil: PupilInput,
        participant_id: UUID,
        pending: dict[str, tuple[UUID, str]] | None = None,
    ) -> _Plan:
        details = PersonalDetails(
            full_name=FullName.parse(pupil.last_name, pupil.first_name, pupil.middle_name),
            birth_date=pupil.birth_date,
            snils=parse_snils(pupil.snils),
            health=HealthLimitations(pupil.has_health_limitations, pupil.health_limitation_kind),
        )
        school = context.school
        residence_id = pupil.residence_region_id or school.region_id
        registered = participants.decide(
            participants.RegisterParticipant(
                participant_id=participant_id,
                season=context.season,
                school=school,
                school_region=context.school_region,
                residence=await self._region_cached(context, residence_id),
                rules=context.rules,
                details=details,
                grade=pupil.grade,
                citizenship=pupil.citizenship,
                accessibility_needs=pupil.accessibility_needs,
            ),
            None,
        )
        key = self.pseudonyms.reservation_key(details.snils)
        person = self.pseudonyms.person_key(details.full_name, details.birth_date)
        expected: ExpectedVersion
        if pending is not None and key in pending:
            holder, holder_person = pending[key]
            reservation: Reservation | None = Reservation(key, holder, holder_person)
            expected = NO_STREAM
        else:
            loaded = await self._reservation(key)
            reservation, expected = loaded.state, loaded.expected
        try:
            reserved = reservations.decide(
                reservations.Reserve(key, participant_id, person), reservation
            )
        except (DuplicateParticipant, DuplicateNeedsReview) as duplicate:
            raise await self._refused(ctx, duplicate, key, person, school.school_id) from None
        recorded = profiles.decide(
            profiles.RecordProfile(
                participant_id, key, residence_id, pupil.citizenship, pupil.home_schooled
            ),
            None,
        )
        return _Plan(
            participant_id,
            key,
            person,
            (
                Part(participants.stream_id(participant_id), registered, NO_STREAM),
                Part(reservations.stream_id(key), reserved, expected),
                Part(profiles.stream_id(participant_id), recorded, NO_STREAM),
            ),
        )

    async def _refused(
        self,
        ctx: CommandContext,
        duplicate: DuplicateParticipant | DuplicateNeedsReview,
        key: str,
        person: str,
        school_id: UUID,
    ) -> Exception:
        holder = (await self._participant(duplicate.existing)).state
        # No holder stream yet: it is planned earlier in the same import, by this very school.
        same_school = holder is None or holder.school_id == school_id
        visible = holder is None or access.may_learn_id(ctx.principal, holder)
        if isinstance(duplicate, DuplicateParticipant) and same_school and visible:
            return _AlreadyRegistered(duplicate.existing)
        if isinstance(duplicate, DuplicateNeedsReview) and holder is not None:
            loaded = await self._reservation(key)
            flagged = reservations.decide(
                reservations.RequestReview(key, school_id, person), loaded.state
            )
            if flagged:
                # Additive and unordered: no expectation, so it never fails the request.
                await self.store.append_many(
                    [
                        EVENT_LOG.stream_append(
                            loaded.stream_id, flagged, loaded.expected, ctx.metadata()
                        )
                    ]
                )
        return DuplicateRefused(
            duplicate.code, duplicate.message, duplicate.existing if visible else None
        )

    async def _commit(self, ctx: CommandContext, plans: Sequence[_Plan]) -> int:
        results = await self._append(ctx, [part for plan in plans for part in plan.parts])
        return published_position(results)

    async def register_participant(
        self,
        ctx: CommandContext,
        school_id: UUID,
        pupil: PupilInput,
        participant_id: UUID | None = None,
    ) -> Committed:
        """Register a pupil at the registrar's school: one profile per child, nationwide.

        `participant_id` is for deterministic data (the demo); by default a fresh random id."""
        access.require_registrar_of(ctx.principal, school_id)
        if participant_id is None:
            participant_id = uuid4()  # kept across retries: a retry reuses its data key
        elif await self.store.stream_version(participants.stream_id(participant_id)) is not None:
            raise ParticipantExists(participant_id)

        async def attempt() -> Committed:
            context = await self._school_context(school_id, pupil.season)
            try:
                plan = await self._plan_registration(ctx, context, pupil, participant_id)
            except _AlreadyRegistered as already:
                raise DuplicateRefused(
                    DuplicateParticipant.code,
                    "This child is already registered.",
                    already.participant_id,
                ) from None
            position = await self._commit(ctx, [plan])
            await self.audit.record(
                ctx.audit(Access.WRITE, participant_id, "register_participant", REGISTRATION_FIELDS)
            )
            return Committed(position, participant_id, 0)

        return await retrying(attempt, VersionConflict)

    async def import_participants(
        self, ctx: CommandContext, school_id: UUID, content: bytes, season: int | None = None
    ) -> ImportReport:
        """Register a class list: each row registered, already registered (the same child at
        this school: importing a file twice creates nothing new) or rejected with its error."""
        access.require_registrar_of(ctx.principal, school_id)
        rows = parse_class_list(content)
        context = await self._school_context(school_id, season)
        if context.rules is None:
            raise UnknownSeason(context.season)  # the whole list, not once per row
        outcomes: list[RowOutcome | None] = [None] * len(rows)
        pending: dict[str, tuple[UUID, str]] = {}
        position = 0
        for start in range(0, len(rows), IMPORT_CHUNK):
            planned: list[tuple[int, _Plan]] = []
            for index in range(start, min(start + IMPORT_CHUNK, len(rows))):
                row = rows[index]
                if row.pupil is None:
                    outcomes[index] = RowOutcome(row.line, "rejected", error=row.error)
                    continue
                try:
                    plan = await self._plan_registration(
                        ctx, context, PupilInput.from_row(row.pupil), uuid4(), pending
                    )
                except _AlreadyRegistered as already:
                    outcomes[index] = RowOutcome(
                        row.line, "already_registered", already.participant_id
                    )
                except DomainError as error:
                    outcomes[index] = RowOutcome(row.line, "rejected", error=error)
                else:
                    planned.append((index, plan))
                    pending[plan.reservation_key] = (plan.participant_id, plan.person_key)
            committed = await self._commit_chunk(ctx, context, rows, planned, outcomes)
            if committed:
                position = max(position, committed)
        if position == 0:
            position = await self.store.head_position()
        return ImportReport([o for o in outcomes if o is not None], position)

    async def _commit_chunk(
        self,
        ctx: CommandContext,
        context: _SchoolContext,
        rows: Sequence[ParsedRow],
        planned: list[tuple[int, _Plan]],
        outcomes: list[RowOutcome | None],
    ) -> int:
        if not planned:
            return 0
        lines = {index: rows[index].line for index, _ in planned}
        committed: list[_Plan] = []
        position = 0
        # One key-store transaction for the chunk's new data keys, not one each.
        await self.cipher.prepare([str(plan.participant_id) for _, plan in planned])
        try:
            position = await self._commit(ctx, [plan for _, plan in planned])
            committed = [plan for _, plan in planned]
            for index, plan in planned:
                outcomes[index] = RowOutcome(lines[index], "registered", plan.participant_id)
        except (WrongExpectedVersion, EventIdsConflict):
            # Someone registered one of these children meanwhile: row by row, as alone.
            for index, plan in planned:
                try:
                    position = max(position, await self._commit(ctx, [plan]))
                except WrongExpectedVersion:
                    outcomes[index] = await self._register_row_again(
                        ctx, context, rows[index], lines[index]
                    )
                else:
                    committed.append(plan)
                    outcomes[index] = RowOutcome(lines[index], "registered", plan.participant_id)
        await self.audit.record(
            *(
                ctx.audit(
                    Access.WRITE, plan.participant_id, "import_participants", REGISTRATION_FIELDS
                )
                for plan in committed
            )
        )
        return position

    async def _register_row_again(
        self, ctx: CommandContext, context: _SchoolContext, row: ParsedRow, line: int
    ) -> RowOutcome:
        assert row.pupil is not None
        pupil = PupilInput.from_row(row.pupil)
        participant_id = uuid4()

        async def attempt() -> RowOutcome:
            plan = await self._plan_registration(ctx, context, pupil, participant_id)
            await self._commit(ctx, [plan])
            await self.audit.record(
                ctx.audit(Access.WRITE, participant_id, "import_participants", REGISTRATION_FIELDS)
            )
            return RowOutcome(line, "registered", participant_id)

        try:
            return await retrying(attempt, VersionConflict)
        except _AlreadyRegistered as already:
            return RowOutcome(line, "already_registered", already.participant_id)
        except DomainError as error:
            return RowOutcome(line, "rejected", error=error)

    # ------------------------------------------------------------------ a participant's life
    async def correct_participant(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        correction: CorrectionInput,
        expected_version: int | None = None,
    ) -> Committed:
        async def attempt() -> Committed:
            loaded = await self._existing(participant_id)
            state = loaded.state
            access.require_registrar_of(ctx.principal, state.school_id)
            if expected_version is not None and expected_version != loaded.version:
                raise VersionConflict(expected_version, loaded.version)
            profile = await self._profile(participant_id)
            personal = await personal_of(self.cipher, loaded.events)
            current = personal.details
            if current is None:
                raise ParticipantErasedError()
            await self.audit.record(
                ctx.audit(
                    Access.READ,
                    participant_id,
                    "correct_participant",
                    ("full_name", "birth_date", "snils", "health_limitations"),
                )
            )
            name_given = any(
                v is not None
                for v in (correction.last_name, correction.first_name, correction.middle_name)
            )
            full_name = (
                FullName.parse(
                    correction.last_name
                    if correction.last_name is not None
                    else current.full_name.last_name,
                    correction.first_name
                    if correction.first_name is not None
                    else current.full_name.first_name,
                    correction.middle_name
                    if correction.middle_name is not None
                    else current.full_name.patronymic,
                )
                if name_given
                else None
            )
            snils = None if correction.snils is None else parse_snils(correction.snils)
            health = (
                None
                if correction.has_health_limitations is None
                else HealthLimitations(
                    correction.has_health_limitations, correction.health_limitation_kind
                )
            )
            rules = (await self._season(state.season)).state
            decided = participants.decide(
                participants.CorrectDetails(
                    participant_id=participant_id,
                    reason=correction.reason,
                    current=current,
                    rules=rules,
                    full_name=full_name,
                    birth_date=correction.birth_date,
                    snils=snils,
                    health=health,
                    grade=correction.grade,
                    accessibility_needs=correction.accessibility_needs,
                ),
                state,
            )
            if not decided:
                return Committed(loaded.position, participant_id, loaded.version)
            parts = [Part(loaded.stream_id, decided, loaded.expected)]
            parts += await self._moved_reservation(
                ctx,
                participant_id,
                state,
                profile,
                snils or current.snils,
                full_name or current.full_name,
                correction.birth_date or current.birth_date,
            )
            results = await self._append(ctx, parts)
            written = [
                name
                for name, given in (
                    ("full_name", full_name),
                    ("birth_date", correction.birth_date),
                    ("snils", snils),
                    ("health_limitations", health),
                )
                if given is not None
            ]
            if written:
                await self.audit.record(
                    ctx.audit(Access.WRITE, participant_id, "correct_participant", written)
                )
            return Committed(published_position(results), participant_id, results[0].version)

        if expected_version is not None:
            try:
                return await attempt()
            except WrongExpectedVersion:
                raise VersionConflict(expected_version) from None
        return await retrying(attempt, VersionConflict)

    async def _moved_reservation(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        state: Participant,
        profile: Loaded[Profile | None],
        snils: Snils,
        full_name: FullName,
        birth_date: date,
    ) -> list[Part]:
        """The reservation follows the child's identifying details: a new СНИЛС takes a new
        reservation and releases the old one; a new name or birth date updates its person key."""
        key = self.pseudonyms.reservation_key(snils)
        person = self.pseudonyms.person_key(full_name, birth_date)
        old_key = profile.state.reservation_key if profile.state else key
        new = await self._reservation(key)
        try:
            reserved = reservations.decide(
                reservations.Reserve(key, participant_id, person), new.state
            )
        except (DuplicateParticipant, DuplicateNeedsReview) as duplicate:
            refusal = await self._refused(ctx, duplicate, key, person, state.school_id)
            if isinstance(refusal, _AlreadyRegistered):
                refusal = DuplicateRefused(
                    duplicate.code, duplicate.message, refusal.participant_id
                )
            raise refusal from None
        parts = [Part(new.stream_id, reserved, new.expected)]
        if old_key != key:
            old = await self._reservation(old_key)
            released = reservations.decide(reservations.Release(old_key, participant_id), old.state)
            changed = profiles.decide(
                profiles.ChangeReservationKey(participant_id, key), profile.state
            )
            parts += [
                Part(old.stream_id, released, old.expected),
                Part(profile.stream_id, changed, profile.expected),
            ]
        return parts

    async def move_participant(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        to_school_id: UUID,
        grade: int | None = None,
    ) -> Committed:
        async def attempt() -> Committed:
            loaded = await self._existing(participant_id)
            access.require_school_or_region_of(ctx.principal, loaded.state)
            to_school = (await self._school(to_school_id)).state
            events = participants.decide(
                participants.MoveToSchool(participant_id, to_school, grade), loaded.state
            )
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, loaded.expected)])
            return Committed(result.position, participant_id, result.version)

        return await retrying(attempt, VersionConflict)

    async def enrol_participant(
        self, ctx: CommandContext, participant_id: UUID, *, season: int, grade: int
    ) -> Committed:
        async def attempt() -> Committed:
            loaded = await self._existing(participant_id)
            state = loaded.state
            access.require_school_or_region_of(ctx.principal, state)
            profile = await self._profile(participant_id)
            personal = await personal_of(self.cipher, (), profile.events)
            await self.audit.record(
                ctx.audit(Access.READ, participant_id, "enrol_participant", ("citizenship",))
            )
            school = (await self._school(state.school_id)).state
            assert school is not None
            residence_id = profile.state.residence_region_id if profile.state else state.region_id
            events = participants.decide(
                participants.EnrolInSeason(
                    participant_id=participant_id,
                    season=season,
                    rules=(await self._season(season)).state,
                    school=school,
                    school_region=(await self._region(school.region_id)).state,
                    residence=(await self._region(residence_id)).state,
                    citizenship=personal.citizenship or RUSSIA,
                    grade=grade,
                ),
                state,
            )
            [result] = await self._append(ctx, [Part(loaded.stream_id, events, loaded.expected)])
            return Committed(result.position, participant_id, result.version)

        return await retrying(attempt, VersionConflict)

    async def link_guardian(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        guardian_id: UUID,
        relationship: Relationship,
    ) -> Committed:
        async def attempt() -> Committed:
            loaded = await self._existing(participant_id)
            access.require_registrar_of(ctx.principal, loaded.state.school_id)
            profile = await self._profile(participant_id)
            events = profiles.decide(
                profiles.LinkGuardian(participant_id, guardian_id, relationship), profile.state
            )
            if not events:
                return Committed(max(profile.position, loaded.position), participant_id)
            [result] = await self._append(ctx, [Part(profile.stream_id, events, profile.expected)])
            await self.audit.record(
                ctx.audit(Access.WRITE, participant_id, "link_guardian", ("guardians",))
            )
            return Committed(result.position, participant_id)

        return await retrying(attempt, VersionConflict)

    # ------------------------------------------------------------------ queries
    async def regions(self, season: int | None = None) -> list[Region]:
        await self.catalogue.refresh()
        found = [
            r for r in self.catalogue.regions.values() if season is None or r.admitted_in(season)
        ]
        return sorted(found, key=lambda r: r.region_code)

    async def schools_of(self, region_id: UUID) -> list[School]:
        await self.catalogue.refresh()
        if region_id not in self.catalogue.regions:
            raise UnknownRegion()
        return self.catalogue.schools_of(region_id)

    async def season_rules(self, season: int) -> SeasonRules:
        await self.catalogue.refresh()
        rules = self.catalogue.seasons.get(season)
        if rules is None:
            raise UnknownSeason(season)
        return rules

    async def all_season_rules(self) -> list[SeasonRules]:
        await self.catalogue.refresh()
        return [self.catalogue.seasons[s] for s in sorted(self.catalogue.seasons)]

    async def duplicate_reviews(self, ctx: CommandContext) -> list[ReviewRequest]:
        access.require_role(ctx.principal, Role.OPERATOR)
        await self.catalogue.refresh_reviews()
        return list(self.catalogue.reviews)

    async def participant(self, ctx: CommandContext, participant_id: UUID) -> ParticipantView:
        loaded = await self._existing(participant_id)
        profile = await self._profile(participant_id)
        seen = access.visibility(ctx.principal, loaded.state, profile.state)
        personal = None
        if seen is not Visibility.PSEUDONYMOUS:
            personal = await personal_of(self.cipher, loaded.events, profile.events)
            fields = ["full_name", "birth_date", "snils", "citizenship", "home_schooled"]
            if seen is Visibility.PERSONAL_AND_HEALTH:
                fields.append("health_limitations")
            await self.audit.record(
                ctx.audit(Access.READ, participant_id, "participant_view", fields)
            )
        assert loaded.version is not None
        return ParticipantView(
            loaded.state,
            profile.state,
            loaded.version,
            max(loaded.position, profile.position),
            seen,
            personal,
        )
