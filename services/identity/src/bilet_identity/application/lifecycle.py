"""A participant's life after registration: corrections of their details (the reservation follows;
health data under the health key's generation in force, or a new one after a withdrawal destroyed
it, docs/adr/0026), a move to another school, enrolment in a later season, a guardian's account
linked or unlinked; and what an entitled caller may see of them."""

from dataclasses import replace
from datetime import date
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.contracts import health_key_subject
from bilet.contracts.catalogue.consent import Relationship
from bilet.crypto import SubjectErased
from bilet.http.auth import Role
from bilet_identity.application import access, streams
from bilet_identity.application.access import Visibility
from bilet_identity.application.consent_state import HEALTH_DATA
from bilet_identity.application.details import HEALTH_FIELDS, personal_of
from bilet_identity.application.errors import (
    ParticipantErasedError,
    StaleVersion,
    VersionConflict,
)
from bilet_identity.application.inputs import (
    CommandContext,
    Committed,
    CorrectionInput,
    ParticipantView,
)
from bilet_identity.application.registration import Registration
from bilet_identity.domain import participant as participants
from bilet_identity.domain import profile as profiles
from bilet_identity.domain.errors import (
    HealthDataWithdrawn,
    ParticipantMergedAway,
    UnknownParticipant,
)
from bilet_identity.domain.health import HealthConsent
from bilet_identity.domain.people import (
    RUSSIA,
    FullName,
    HealthLimitations,
    PersonalDetails,
    parse_class_letter,
    parse_snils,
)
from bilet_identity.domain.snils import Snils

PERSONAL_READ = ("full_name", "birth_date", "snils", "health_limitations", "accessibility_needs")
# What a participant's view shows of the personal data, and, audited apart with a purpose of
# its own, of the health data (so a who-read query tells the special category apart).
PERSONAL_VIEWED = ("full_name", "birth_date", "snils", "citizenship", "home_schooled")
HEALTH_VIEW_PURPOSE = "participant_health_view"


def _corrected_name(correction: CorrectionInput, current: FullName) -> FullName | None:
    """The name as corrected (parts not given stay), None when no part is given."""
    parts = (correction.last_name, correction.first_name, correction.middle_name)
    if all(part is None for part in parts):
        return None
    return FullName.parse(
        current.last_name if correction.last_name is None else correction.last_name,
        current.first_name if correction.first_name is None else correction.first_name,
        current.patronymic if correction.middle_name is None else correction.middle_name,
    )


def _identifying(details: PersonalDetails) -> tuple[FullName, date, Snils]:
    """What the child's reservation is keyed by: the СНИЛС (its key) and the name and birth
    date (its person key). While they stay, the reservation stays as the registration (or the
    correction that last changed them) left it, held by the child: only a merge away or an
    erasure lets it go, and both refuse corrections from then on. A correction of anything else
    (a grade, health data) has nothing to decide there, so it does not read it (docs/adr/0095)."""
    return details.full_name, details.birth_date, details.snils


class ParticipantLife(Registration):
    async def correct_participant(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        correction: CorrectionInput,
        expected_version: int | None = None,
    ) -> Committed:
        """Correct a participant's details at their school. With `expected_version` (the
        caller's If-Match), a change since that version is refused as stale, never retried."""
        access.require_role(ctx.principal, Role.REGISTRAR)
        stream_id = participants.stream_id(participant_id)
        if self.consents is not None:
            # Read-your-writes for the consent commands the caller names (a new consent that
            # covers health data again, before health data is stated again).
            await self.consents.await_tokens(ctx.tokens)
        states_health = (
            correction.has_health_limitations is not None
            or correction.accessibility_needs is not None
        )

        async def decide(attempt: Attempt) -> list[str]:
            loaded = await attempt.load(streams.participant(participant_id))
            state = loaded.state
            if state is None:
                raise UnknownParticipant()
            with access.unknown_if_out_of_scope():
                access.require_registrar_of(ctx.principal, state.school_id)
            if expected_version is not None and expected_version != loaded.version:
                raise StaleVersion(expected_version, loaded.version)
            if state.merged_into is not None:
                # A closed profile: nothing changes it, its class letter neither (a correction
                # of the letter alone never reaches `participants.decide`, which says so too).
                raise ParticipantMergedAway(state.merged_into)
            current = (await personal_of(self.cipher, loaded.events, health=True)).details
            if current is None:
                raise ParticipantErasedError()
            await self.audit.record(
                ctx.audit(Access.READ, participant_id, "correct_participant", PERSONAL_READ)
            )
            full_name = _corrected_name(correction, current.full_name)
            snils = None if correction.snils is None else parse_snils(correction.snils)
            health = (
                None
                if correction.has_health_limitations is None
                else HealthLimitations(
                    correction.has_health_limitations, correction.health_limitation_kind
                )
            )
            destroyed = states_health and await self._health_key_destroyed(
                participant_id, state.health_generation
            )
            letter = parse_class_letter(correction.class_letter)
            decided: list[participants.Decision] = []
            # The class letter alone is the profile's; anything else is the participant's own.
            if correction.changes_details or correction.class_letter is None:
                decided = participants.decide(
                    participants.CorrectDetails(
                        participant_id=participant_id,
                        reason=correction.reason,
                        current=current,
                        rules=await attempt.state(streams.season(state.season)),
                        full_name=full_name,
                        birth_date=correction.birth_date,
                        snils=snils,
                        health=health,
                        grade=correction.grade,
                        accessibility_needs=correction.accessibility_needs,
                        health_key_destroyed=destroyed,
                        health_consent=await self._health_consent(participant_id)
                        if destroyed
                        else None,
                        age_band=self.age_band,
                    ),
                    state,
                )
            # The profile is read only by what changes it (a grade or health correction, the
            # most common, does not): one read fewer per command (docs/adr/0095).
            profile = streams.profile(participant_id)
            if (
                correction.class_letter is not None
                and (held := await attempt.state(profile)) is not None
            ):
                lettered = profiles.RecordClassLetter(participant_id, letter)
                attempt.append(profile.stream_id, profiles.decide(lettered, held))
            attempt.append(stream_id, decided)  # even nothing: the answer names this stream
            if not decided:
                return []
            corrected = replace(
                current,
                full_name=full_name or current.full_name,
                birth_date=correction.birth_date or current.birth_date,
                snils=snils or current.snils,
            )
            if _identifying(corrected) != _identifying(current):
                if (held := await attempt.state(profile)) is None:
                    # Registration writes the profile with the participant; only the erasure's
                    # purge removes it. A process that has not yet learnt of the erasure (the
                    # cipher's check, up to a second) must not reserve the child's keys again
                    # on a purged stream that nothing would purge again.
                    raise ParticipantErasedError()
                await self._moved_reservation(attempt, ctx, state, held, corrected)
            if full_name is not None and (held := await attempt.state(profile)) is not None:
                # The surname's blind index follows a corrected surname (docs/adr/0041).
                index = profiles.IndexSurname(
                    participant_id, self.pseudonyms.surname_prefix_keys(full_name.last_name)
                )
                attempt.append(profile.stream_id, profiles.decide(index, held))
            given = zip(
                PERSONAL_READ,
                (full_name, correction.birth_date, snils, health, correction.accessibility_needs),
                strict=True,
            )
            return [name for name, value in given if value is not None]

        try:
            outcome = await self.transactor.transact_many(
                ctx,
                decide,
                retry=expected_version is None,
                # With If-Match, another writer between the read and the append makes the
                # caller's version stale too: the same 412, never retried into success.
                conflict=lambda: (
                    VersionConflict()
                    if expected_version is None
                    else StaleVersion(expected_version, None)
                ),
            )
        except SubjectErased as erased:
            # Sealing found a destroyed key: a generation of the health key destroyed by a
            # withdrawal since it was decided (the participant key's destruction is refused
            # above, before anything is decided).
            if erased.subject != str(participant_id):
                raise HealthDataWithdrawn() from None
            raise ParticipantErasedError() from None
        if outcome.value:
            await self.audit.record(
                ctx.audit(Access.WRITE, participant_id, "correct_participant", outcome.value)
            )
        return Committed.of(outcome, stream_id, participant_id)

    async def move_participant(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        to_school_id: UUID,
        grade: int | None = None,
    ) -> Committed:
        access.require_role(ctx.principal, *access.SCHOOL_OR_REGION)
        stream_id = participants.stream_id(participant_id)

        async def decide(attempt: Attempt) -> None:
            state = await self._existing(attempt, participant_id)
            with access.unknown_if_out_of_scope():
                access.require_school_or_region_of(ctx.principal, state)
            to_school = await attempt.state(streams.school(to_school_id))
            move = participants.MoveToSchool(participant_id, to_school, grade)
            attempt.append(stream_id, participants.decide(move, state))
            # A class letter is the old school's: none at the new one until it states one.
            fold = streams.profile(participant_id)
            profile = await attempt.state(fold)
            if profile is not None:
                unlettered = profiles.RecordClassLetter(participant_id, None)
                attempt.append(fold.stream_id, profiles.decide(unlettered, profile))

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, stream_id, participant_id)

    async def enrol_participant(
        self, ctx: CommandContext, participant_id: UUID, *, season: int, grade: int
    ) -> Committed:
        access.require_role(ctx.principal, *access.SCHOOL_OR_REGION)
        stream_id = participants.stream_id(participant_id)

        async def decide(attempt: Attempt) -> None:
            state = await self._existing(attempt, participant_id)
            with access.unknown_if_out_of_scope():
                access.require_school_or_region_of(ctx.principal, state)
            profile = await attempt.load(streams.profile(participant_id))
            personal = await personal_of(self.cipher, (), profile.events)
            await self.audit.record(
                ctx.audit(Access.READ, participant_id, "enrol_participant", ("citizenship",))
            )
            school = await attempt.state(streams.school(state.school_id))
            assert school is not None
            residence_id = profile.state.residence_region_id if profile.state else state.region_id
            enrol = participants.EnrolInSeason(
                participant_id=participant_id,
                season=season,
                rules=await attempt.state(streams.season(season)),
                school=school,
                school_region=await attempt.state(streams.region(school.region_id)),
                residence=await attempt.state(streams.region(residence_id)),
                citizenship=personal.citizenship or RUSSIA,
                grade=grade,
            )
            attempt.append(stream_id, participants.decide(enrol, state))

        outcome = await self.transactor.transact_many(ctx, decide)
        return Committed.of(outcome, stream_id, participant_id)

    async def link_guardian(
        self,
        ctx: CommandContext,
        participant_id: UUID,
        guardian_id: UUID,
        relationship: Relationship,
    ) -> Committed:
        link = profiles.LinkGuardian(participant_id, guardian_id, relationship)
        return await self._change_guardians(ctx, link, "link_guardian")

    async def unlink_guardian(
        self, ctx: CommandContext, participant_id: UUID, guardian_id: UUID
    ) -> Committed:
        """Remove a guardian's account from the participant (docs/adr/0050): the identity
        provider drops the child from its `children` claim; refused when it is not linked."""
        unlink = profiles.UnlinkGuardian(participant_id, guardian_id)
        return await self._change_guardians(ctx, unlink, "unlink_guardian")

    async def _change_guardians(
        self,
        ctx: CommandContext,
        command: profiles.LinkGuardian | profiles.UnlinkGuardian,
        purpose: str,
    ) -> Committed:
        """A link or unlink by the registrar of the participant's school, audited when it
        recorded something."""
        access.require_role(ctx.principal, Role.REGISTRAR)
        participant_id = command.participant_id

        async def decide(attempt: Attempt) -> bool:
            state = await self._existing(attempt, participant_id)
            with access.unknown_if_out_of_scope():
                access.require_registrar_of(ctx.principal, state.school_id)
            fold = streams.profile(participant_id)
            decided = profiles.decide(command, await attempt.state(fold))
            attempt.append(fold.stream_id, decided)
            return bool(decided)

        outcome = await self.transactor.transact_many(ctx, decide)
        if outcome.value:
            await self.audit.record(
                ctx.audit(Access.WRITE, participant_id, purpose, ("guardians",))
            )
        return Committed.of(outcome, participants.stream_id(participant_id), participant_id)

    # ------------------------------------------------------------------ queries
    async def participant(self, ctx: CommandContext, participant_id: UUID) -> ParticipantView:
        access.require_role(ctx.principal, *access.PARTICIPANT_READERS)
        if self.consents is not None:
            # Read-your-writes for the consent commands the caller names (e.g. a withdrawal
            # of `health_data`: the answer must not show what it withdrew).
            await self.consents.await_tokens(ctx.tokens)
        reads = self.transactor.attempt()
        loaded = await reads.load(streams.participant(participant_id))
        if loaded.state is None:
            raise UnknownParticipant()
        profile = await reads.load(streams.profile(participant_id))
        with access.unknown_if_out_of_scope():
            seen = access.visibility(ctx.principal, loaded.state)
        personal = None
        withheld = None
        if seen is not Visibility.PSEUDONYMOUS:
            # Health data (a special category) is opened only for a role that needs it and
            # while a consent covers it: otherwise its key is not even asked for.
            needs_health = seen is Visibility.PERSONAL_AND_HEALTH
            consented = await self._purposes_in_force(participant_id) if needs_health else None
            withheld = access.health_withheld(seen, consented or frozenset())
            personal = await personal_of(
                self.cipher, loaded.events, profile.events, health=withheld is None
            )
            await self.audit.record(
                ctx.audit(Access.READ, participant_id, "participant_view", PERSONAL_VIEWED)
            )
            if withheld is None:
                await self.audit.record(
                    ctx.audit(Access.READ, participant_id, HEALTH_VIEW_PURPOSE, HEALTH_FIELDS)
                )
        assert loaded.version is not None
        return ParticipantView(
            loaded.state,
            profile.state,
            loaded.version,
            max(loaded.position, profile.position),
            seen,
            personal,
            withheld,
        )

    async def _purposes_in_force(self, participant_id: UUID) -> frozenset[str]:
        if self.consents is None:
            return frozenset()
        return await self.consents.purposes_in_force(participant_id, self.today())

    async def _health_key_destroyed(self, participant_id: UUID, generation: int) -> bool:
        """Whether the health key of `generation` was destroyed. Asked only of the generation
        that is to seal health data now: where it lives, its key is made (or found) here."""
        try:
            await self.cipher.prepare([health_key_subject(participant_id, generation)])
        except SubjectErased:
            return True
        return False

    async def _health_consent(self, participant_id: UUID) -> HealthConsent | None:
        if self.consents is None:
            return None
        in_force = await self.consents.in_force(participant_id, self.today())
        return HealthConsent(HEALTH_DATA in in_force.purposes, in_force.health_generation)
