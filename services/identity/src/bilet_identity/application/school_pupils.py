"""A school's pupils for its registrar and navigators: the list a school works from (who is in
which grade, whose consent is missing or pending, found by the first letters of a surname),
cursor-paged (docs/adr/0041).

The school holds its pupils' names already, so it sees them whatever their consent says: the
pupils whose consent is missing or pending are exactly the ones it must chase. The list is the
roster view (ids, grades, the surname's blind index); the names of one page are opened from each
pupil's events and every pupil shown is audited (`school_pupils_view`, the name only).
"""

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.http.auth import Principal, Role
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.consent_state import ConsentState
from bilet_identity.application.details import personal_of
from bilet_identity.application.inputs import CommandContext
from bilet_identity.application.roster import RosterEntry
from bilet_identity.domain import profile as profiles
from bilet_identity.domain.errors import SchoolNotFound
from bilet_identity.domain.people import FullName, fold_name

VIEW_PURPOSE: Final = "school_pupils_view"
# Who opens the names of participants registered before the surname index, to index them.
INDEX_ACTOR: Final = "bilet-identity-surname-index"
# The roles that work from a school's list, each for their own school only.
SCHOOL_STAFF: Final = (Role.REGISTRAR, Role.NAVIGATOR)


@dataclass(frozen=True)
class PupilQuery:
    surname_prefix: str | None = None
    grade: int | None = None
    consent: frozenset[ConsentState] | None = None  # None: every state
    after: tuple[int, int] | None = None  # the cursor: (grade, registration position)
    limit: int = 50


@dataclass(frozen=True)
class PupilRow:
    participant_id: UUID
    grade: int
    class_letter: str | None
    season: int
    full_name: FullName | None  # None: erased
    consent_state: ConsentState


@dataclass(frozen=True)
class PupilPage:
    pupils: list[PupilRow]
    total: int  # how many pupils match the query, on every page
    next_after: tuple[int, int] | None  # None: the last page


class SchoolPupils(IdentityCore):
    async def school_pupils(
        self, ctx: CommandContext, school_id: UUID, query: PupilQuery
    ) -> PupilPage:
        access.require_role(ctx.principal, *SCHOOL_STAFF)
        if ctx.principal.school_id != str(school_id):
            raise access.OutOfScope("A school's staff see their own school's pupils only.")
        await self.catalogue.refresh()
        if school_id not in self.catalogue.schools:
            raise SchoolNotFound()
        await self.roster.refresh()
        surname_key = None
        if query.surname_prefix is not None:
            if not fold_name(query.surname_prefix):
                return PupilPage([], 0, None)  # spaces only: no surname starts with nothing
            surname_key = self.pseudonyms.surname_search_key(query.surname_prefix)
        matching = self.roster.pupils_of(school_id, grade=query.grade, surname_key=surname_key)
        states: dict[UUID, ConsentState] = {}
        if query.consent is not None:
            states = await self._consent_states([e.participant.participant_id for e in matching])
            matching = [
                e for e in matching if states[e.participant.participant_id] in query.consent
            ]
        after = query.after
        following = [e for e in matching if after is None or e.sort_key > after]
        page = following[: query.limit]
        if query.consent is None:
            states = await self._consent_states([e.participant.participant_id for e in page])
        rows = [await self._row(entry, states, query.surname_prefix) for entry in page]
        shown = [row for row in rows if row is not None]
        await self.audit.record(
            *(
                ctx.audit(Access.READ, row.participant_id, VIEW_PURPOSE, ("full_name",))
                for row in shown
                if row.full_name is not None
            )
        )
        more = len(following) > query.limit
        return PupilPage(shown, len(matching), page[-1].sort_key if more else None)

    async def index_missing_surnames(self) -> int:
        """Index the surnames of the participants registered before the index existed
        (docs/adr/0041): each name opened once, by identity itself, and audited. Run at start;
        run again, it indexes nothing. How many it indexed."""
        await self.roster.refresh()
        ctx = CommandContext(Principal(subject=INDEX_ACTOR, role=Role.OPERATOR), "surname-index")
        indexed = 0
        for participant_id in self.roster.unindexed():
            if await self._index_surname(ctx, participant_id):
                await self.audit.record(
                    ctx.audit(Access.READ, participant_id, "surname_index", ("full_name",))
                )
                indexed += 1
        return indexed

    async def _index_surname(self, ctx: CommandContext, participant_id: UUID) -> bool:
        async def decide(attempt: Attempt) -> bool:
            fold = streams.profile(participant_id)
            profile = await attempt.state(fold)
            if profile is None:
                return False  # erased: the profile was purged, there is nothing to index
            loaded = await attempt.load(streams.participant(participant_id))
            details = (await personal_of(self.cipher, loaded.events)).details
            if details is None:
                return False  # erased: the name cannot be opened
            keys = self.pseudonyms.surname_prefix_keys(details.full_name.last_name)
            decided = profiles.decide(profiles.IndexSurname(participant_id, keys), profile)
            attempt.append(fold.stream_id, decided)
            return bool(decided)

        outcome = await self.transactor.transact_many(ctx, decide)
        return outcome.value

    async def _consent_states(self, participant_ids: Collection[UUID]) -> dict[UUID, ConsentState]:
        if self.consents is None:
            return dict.fromkeys(participant_ids, ConsentState.MISSING)
        return await self.consents.states_of(list(participant_ids), self.today())

    async def _row(
        self, entry: RosterEntry, states: dict[UUID, ConsentState], surname_prefix: str | None
    ) -> PupilRow | None:
        """One pupil with their name opened; None when a search cannot confirm them (their name
        was erased by another process since the index was read)."""
        participant = entry.participant
        pid = participant.participant_id
        loaded = await self.transactor.attempt().load(streams.participant(pid))
        details = (await personal_of(self.cipher, loaded.events)).details
        full_name = None if details is None else details.full_name
        if surname_prefix is not None and (
            full_name is None
            or not fold_name(full_name.last_name).startswith(fold_name(surname_prefix))
        ):
            return None
        return PupilRow(
            pid, participant.grade, entry.class_letter, participant.season, full_name, states[pid]
        )
