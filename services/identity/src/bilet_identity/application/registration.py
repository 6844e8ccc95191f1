"""Registration: one profile per child, nationwide. A pupil registered by form or by class list
becomes three streams in one commit (the participant, the uniqueness reservation, the internal
profile); a second profile of one child is refused, or sent to a person for review. The
reservation follows the child's identifying details when a school corrects them."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID, uuid4

from bilet.application import Attempt, Part
from bilet.audit import Access, Audited, AuditRecord
from bilet.contracts import health_key_subject
from bilet.eventstore import NO_STREAM, EventIdsConflict, ExpectedVersion, WrongExpectedVersion
from bilet_identity.application import access, streams
from bilet_identity.application.classlist import ParsedRow, parse_class_list
from bilet_identity.application.duplicates import AlreadyRegistered, DuplicateGuard, Pending
from bilet_identity.application.inputs import (
    CommandContext,
    Committed,
    ImportReport,
    PupilInput,
    RowOutcome,
)
from bilet_identity.domain import participant as participants
from bilet_identity.domain import profile as profiles
from bilet_identity.domain import reservation as reservations
from bilet_identity.domain.errors import (
    DomainError,
    ParticipantExists,
    UnknownSchool,
    UnknownSeason,
)
from bilet_identity.domain.participant import Participant
from bilet_identity.domain.people import (
    FullName,
    HealthLimitations,
    PersonalDetails,
    parse_class_letter,
    parse_snils,
)
from bilet_identity.domain.profile import Profile
from bilet_identity.domain.region import Region
from bilet_identity.domain.reservation import Reservation
from bilet_identity.domain.school import School
from bilet_identity.domain.season import SeasonRules

IMPORT_CHUNK: Final = 500
REGISTRATION_FIELDS: Final = (
    "full_name",
    "birth_date",
    "snils",
    "health_limitations",
    "accessibility_needs",
    "citizenship",
    "home_schooled",
)


@dataclass
class _SchoolContext:
    """What every registration at one school decides on, read once per request."""

    school: School
    school_region: Region | None
    rules: SeasonRules | None
    season: int
    regions: dict[UUID, Region | None] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """One pupil's registration, decided: its three streams' shares of a commit."""

    participant_id: UUID
    reservation_key: str
    person_key: str
    parts: tuple[Part, ...]


def _imported(ctx: CommandContext, participant_id: UUID) -> AuditRecord:
    """The audit record of a pupil registered from a class list."""
    return ctx.audit(Access.WRITE, participant_id, "import_participants", REGISTRATION_FIELDS)


class Registration(DuplicateGuard):
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
            # Kept across retries: a retry reuses its data keys, made ahead with the id.
            participant_id = await self.new_participants.take()
        elif await self.store.stream_version(participants.stream_id(participant_id)) is not None:
            raise ParticipantExists(participant_id)
        new_id = participant_id

        async def decide(attempt: Attempt) -> None:
            context = await self._school_context(attempt, school_id, pupil.season)
            try:
                plan = await self._plan(attempt, ctx, context, pupil, new_id)
            except AlreadyRegistered as already:
                raise already.refusal() from None
            for part in plan.parts:
                attempt.append(*part)

        # The audit record is committed with the registration's events where the store allows.
        record = ctx.audit(Access.WRITE, new_id, "register_participant", REGISTRATION_FIELDS)
        outcome = await self.transactor.transact_many(
            ctx, decide, audited=Audited(self.audit, (record,))
        )
        return Committed(outcome.position, new_id, 0)

    async def import_participants(
        self, ctx: CommandContext, school_id: UUID, content: bytes, season: int | None = None
    ) -> ImportReport:
        """Register a class list: each row registered, already registered (the same child at
        this school: importing a file twice creates nothing new) or rejected with its error."""
        access.require_registrar_of(ctx.principal, school_id)
        rows = parse_class_list(content)
        context = await self._school_context(self.transactor.attempt(), school_id, season)
        if context.rules is None:
            raise UnknownSeason(context.season)  # the whole list, not once per row
        outcomes: list[RowOutcome | None] = [None] * len(rows)
        pending: Pending = {}
        position = 0
        for start in range(0, len(rows), IMPORT_CHUNK):
            reads = self.transactor.attempt()
            planned: list[tuple[int, _Plan]] = []
            for index in range(start, min(start + IMPORT_CHUNK, len(rows))):
                row = rows[index]
                if row.pupil is None:
                    outcomes[index] = RowOutcome(row.line, "rejected", error=row.error)
                    continue
                try:
                    plan = await self._plan(reads, ctx, context, row.pupil, uuid4(), pending)
                except AlreadyRegistered as already:
                    outcomes[index] = RowOutcome(
                        row.line, "already_registered", already.participant_id
                    )
                except DomainError as error:
                    outcomes[index] = RowOutcome(row.line, "rejected", error=error)
                else:
                    planned.append((index, plan))
                    pending[plan.reservation_key] = (plan.participant_id, plan.person_key)
            committed = await self._commit_chunk(ctx, context, rows, planned, outcomes)
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
        position = 0
        # One key-store transaction for the chunk's new data keys (each participant's key and
        # health key), not one each.
        await self.cipher.prepare(
            [
                subject
                for _, plan in planned
                for subject in (str(plan.participant_id), health_key_subject(plan.participant_id))
            ]
        )

        # Each row's audit record is committed with its events where the store allows.
        def audited(*plans: _Plan) -> Audited:
            return Audited(self.audit, tuple(_imported(ctx, plan.participant_id) for plan in plans))

        try:
            parts = [part for _, plan in planned for part in plan.parts]
            chunk = [plan for _, plan in planned]
            committed = await self.transactor.commit(ctx, parts, audited(*chunk))
            position = self.transactor.position_of(committed)
            for index, plan in planned:
                outcomes[index] = RowOutcome(rows[index].line, "registered", plan.participant_id)
        except (WrongExpectedVersion, EventIdsConflict):
            # Someone registered one of these children meanwhile: row by row, as alone.
            for index, plan in planned:
                try:
                    results = await self.transactor.commit(ctx, plan.parts, audited(plan))
                except WrongExpectedVersion:
                    outcomes[index] = await self._register_row_again(ctx, context, rows[index])
                else:
                    position = max(position, self.transactor.position_of(results))
                    outcomes[index] = RowOutcome(
                        rows[index].line, "registered", plan.participant_id
                    )
        return position

    async def _register_row_again(
        self, ctx: CommandContext, context: _SchoolContext, row: ParsedRow
    ) -> RowOutcome:
        pupil = row.pupil
        assert pupil is not None
        participant_id = uuid4()

        async def decide(attempt: Attempt) -> None:
            plan = await self._plan(attempt, ctx, context, pupil, participant_id)
            for part in plan.parts:
                attempt.append(*part)

        try:
            audited = Audited(self.audit, (_imported(ctx, participant_id),))
            await self.transactor.transact_many(ctx, decide, audited=audited)
        except AlreadyRegistered as already:
            return RowOutcome(row.line, "already_registered", already.participant_id)
        except DomainError as error:
            return RowOutcome(row.line, "rejected", error=error)
        return RowOutcome(row.line, "registered", participant_id)

    # ------------------------------------------------------------------ deciding
    async def _school_context(
        self, attempt: Attempt, school_id: UUID, season: int | None
    ) -> _SchoolContext:
        school = await attempt.state(streams.school(school_id))
        if school is None:
            raise UnknownSchool()
        school_region = await attempt.state(streams.region(school.region_id))
        await self.roster.refresh()  # the school's pupils, to tell a child typed twice
        if season is None:
            await self.catalogue.refresh()
            current = self.catalogue.season_for(self.today())
            if current is None:
                raise UnknownSeason(self.today().year)
            season = current.season
        rules = await attempt.state(streams.season(season))
        return _SchoolContext(
            school, school_region, rules, season, {school.region_id: school_region}
        )

    async def _plan(
        self,
        attempt: Attempt,
        ctx: CommandContext,
        context: _SchoolContext,
        pupil: PupilInput,
        participant_id: UUID,
        pending: Pending | None = None,
    ) -> _Plan:
        """Decide one pupil's registration (reading through `attempt`; appending nothing)."""
        details = PersonalDetails(
            full_name=FullName.parse(pupil.last_name, pupil.first_name, pupil.middle_name),
            birth_date=pupil.birth_date,
            snils=parse_snils(pupil.snils),
            health=HealthLimitations(pupil.has_health_limitations, pupil.health_limitation_kind),
        )
        class_letter = parse_class_letter(pupil.class_letter)
        school = context.school
        residence_id = pupil.residence_region_id or school.region_id
        if residence_id not in context.regions:
            context.regions[residence_id] = await attempt.state(streams.region(residence_id))
        registered = participants.decide(
            participants.RegisterParticipant(
                participant_id=participant_id,
                season=context.season,
                school=school,
                school_region=context.school_region,
                residence=context.regions[residence_id],
                rules=context.rules,
                details=details,
                grade=pupil.grade,
                citizenship=pupil.citizenship,
                accessibility_needs=pupil.accessibility_needs,
                age_band=self.age_band,
            ),
            participants.initial,
        )
        key = self.pseudonyms.reservation_key(details.snils)
        person = self.pseudonyms.person_key(details.full_name, details.birth_date)
        reservation: Reservation | None
        expected: ExpectedVersion
        if pending is not None and key in pending:
            holder, holder_person = pending[key]
            reservation, expected = Reservation(key, holder, holder_person), NO_STREAM
        else:
            loaded = await attempt.load(streams.reservation(key))
            reservation, expected = loaded.state, loaded.expected
        reserved = await self._reserve(
            ctx, reservations.Reserve(key, participant_id, person), reservation, school.school_id
        )
        await self._check_not_twice(attempt, ctx, school.school_id, key, person, pending)
        recorded = profiles.decide(
            profiles.RecordProfile(
                participant_id,
                key,
                residence_id,
                pupil.citizenship,
                pupil.home_schooled,
                self.pseudonyms.surname_prefix_keys(details.full_name.last_name),
                class_letter,
            ),
            profiles.initial,
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

    async def _moved_reservation(
        self,
        attempt: Attempt,
        ctx: CommandContext,
        state: Participant,
        profile: Profile | None,
        details: PersonalDetails,
    ) -> None:
        """The reservation follows the child's identifying details: a new СНИЛС takes a new
        reservation and releases the old one; a new name or birth date updates its person key."""
        participant_id = state.participant_id
        key = self.pseudonyms.reservation_key(details.snils)
        person = self.pseudonyms.person_key(details.full_name, details.birth_date)
        new = streams.reservation(key)
        try:
            reserved = await self._reserve(
                ctx,
                reservations.Reserve(key, participant_id, person),
                await attempt.state(new),
                state.school_id,
            )
        except AlreadyRegistered as already:
            raise already.refusal() from None
        attempt.append(new.stream_id, reserved)
        old_key = profile.reservation_key if profile else key
        if old_key != key:
            old = streams.reservation(old_key)
            released = reservations.Release(old_key, participant_id)
            attempt.append(old.stream_id, reservations.decide(released, await attempt.state(old)))
            changed = profiles.ChangeReservationKey(participant_id, key)
            attempt.append(profiles.stream_id(participant_id), profiles.decide(changed, profile))
