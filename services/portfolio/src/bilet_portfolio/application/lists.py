"""A school's list and a guardian's children: each row decided as its portfolio would be, the
page and its total from one read, and the search by surname prefix (ADR 0044).

A row is listed exactly when the pupil's portfolio would answer the caller (`_decide`, the one
rule of access, erasure and the consent gate): the query already keeps to the caller's rows (a
coordinator's: their region's pupils, by the pupil's region as on the portfolio), and every row
is decided again here. A surname is searched only among the names the caller is shown (open
portfolios, for the navigator and the coordinator), through the keyed-hash index of the surnames
the portfolio has opened (application/surname_index.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from bilet.application import RequestContext
from bilet.audit import Access, AuditLog
from bilet.crypto import FieldCipher
from bilet.http.auth import Principal, Role
from bilet_portfolio.application.access import (
    SCHOOL_ROLES,
    Decision,
    Scope,
    require_list_role,
    scope_of,
    scope_on_school,
)
from bilet_portfolio.application.errors import (
    AccessDenied,
    ConsentRequired,
    ParticipantErased,
    UnknownParticipant,
    UnknownSchool,
)
from bilet_portfolio.application.listing import After, ListCursors, SchoolQuery
from bilet_portfolio.application.personal_fields import NAME_FIELD, DisplayName, PersonalFields
from bilet_portfolio.application.ports import PortfolioReader
from bilet_portfolio.application.surname_index import SurnameIndex
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.views import ParticipantRecord


@dataclass(frozen=True)
class Summary:
    """One participant in a list: the consent state always, the rest only when `detailed` (the
    portfolio is open and the caller may see it)."""

    participant: ParticipantRecord
    consent_state: ConsentState
    open: bool
    detailed: bool
    name: DisplayName | None


@dataclass(frozen=True)
class SchoolPage:
    school_id: str
    items: list[Summary]
    next_cursor: str | None
    total: int  # on all pages, from the same read as the page


class SchoolLists:
    """The list queries of `PortfolioQueries` (a mixin: it holds their state)."""

    reader: PortfolioReader
    cipher: FieldCipher
    personal_fields: PersonalFields
    audit: AuditLog
    cursors: ListCursors
    surnames: SurnameIndex

    today: Callable[[], date]

    def _decide(
        self, principal: Principal, participant: ParticipantRecord, today: date
    ) -> Decision:
        raise NotImplementedError  # PortfolioQueries decides: the one rule for both views

    def _listed(
        self, principal: Principal, participants: Sequence[ParticipantRecord], today: date
    ) -> list[tuple[ParticipantRecord, Decision]]:
        """Each row with the decision its portfolio would get (`_decide`); a row the portfolio
        would refuse (not the caller's, erased) is not listed, and one it would answer
        `consent_required` is listed with its consent state only."""
        listed = []
        for participant in participants:
            try:
                decision = self._decide(principal, participant, today)
            except ConsentRequired:
                scope = scope_of(
                    principal,
                    participant.participant_id,
                    participant.school_id,
                    participant.region_id,
                )
                decision = Decision(scope, participant.consent.state_on(today), False)
            except (UnknownParticipant, ParticipantErased):
                continue
            listed.append((participant, decision))
        return listed

    async def _summaries(
        self,
        ctx: RequestContext,
        rows: Sequence[tuple[ParticipantRecord, Decision]],
        *,
        purpose: str,
    ) -> list[Summary]:
        detailed = [participant for participant, decision in rows if decision.shows_portfolio]
        names_shown = {
            participant.participant_id
            for participant, decision in rows
            if decision.shows_portfolio and decision.scope.sees_names
        }
        names = await self.personal_fields.names(
            [participant for participant in detailed if participant.participant_id in names_shown]
        )
        for participant in detailed:
            name = names.get(participant.participant_id)
            if name is not None:
                self.surnames.learn(participant, name.last_name, name.erased)
        records = [
            ctx.audit(
                Access.READ,
                participant.participant_id,
                purpose,
                ["progress", NAME_FIELD] if participant.participant_id in names else ["progress"],
            )
            for participant in detailed
        ]
        await self.audit.record(*records)
        shown = {participant.participant_id for participant in detailed}
        return [
            Summary(
                participant=participant,
                consent_state=decision.state,
                open=decision.open,
                detailed=participant.participant_id in shown,
                name=names.get(participant.participant_id),
            )
            for participant, decision in rows
        ]

    # ------------------------------------------------------------------ lists
    async def school(self, ctx: RequestContext, school_id: str, query: SchoolQuery) -> SchoolPage:
        principal = ctx.principal
        require_list_role(principal)
        school = await self.reader.school(school_id)
        today = self.today()
        # A coordinator's rows are their region's pupils, as `scope_of` decides on a portfolio.
        region_id = principal.region_id if principal.role is Role.COORDINATOR else None
        if principal.role in SCHOOL_ROLES:
            scope = scope_on_school(principal, school_id, None)
        elif school is not None and principal.role is not Role.COORDINATOR:
            scope = Scope.OPERATOR
        elif school is not None and school.region_id == principal.region_id:
            scope = Scope.REGION
        elif await self._has_pupils(school_id, today, region_id):
            # The school's row is not here yet, or names another region, while pupils of it
            # are the caller's: their portfolios answer, so the list does too.
            scope = Scope.OPERATOR if principal.role is Role.OPERATOR else Scope.REGION
        elif principal.role is Role.OPERATOR:
            raise UnknownSchool("No school with this id is known to the portfolio.")
        else:
            raise AccessDenied("You may not see this school's participants.")
        only = None
        if query.surname is not None:
            only = await self._surname_matches(ctx, scope, school_id, query.surname, region_id)
        rows, total = await self.reader.school_page(
            school_id,
            query,
            today,
            detailed=scope.sees_portfolio,
            region_id=region_id,
            only=only,
        )
        page, more = rows[: query.limit], len(rows) > query.limit
        items = await self._summaries(
            ctx, self._listed(principal, page, today), purpose="portfolio_school_list"
        )
        cursor = None
        if more and page:
            last = page[-1]
            # As the query sorted it: a portfolio the caller does not see sorted as NULL.
            shown = scope.sees_portfolio and last.consent.opens_portfolio(today)
            cursor = self.cursors.encode(
                school_id,
                query,
                After(_sort_value(query, last, detailed=shown), last.participant_id),
            )
        return SchoolPage(school_id, items, cursor, total)

    async def _has_pupils(self, school_id: str, today: date, region_id: str | None) -> bool:
        """Whether the school has pupils (of `region_id`, when given) the list would show."""
        _rows, total = await self.reader.school_page(
            school_id, SchoolQuery(limit=1), today, detailed=False, region_id=region_id
        )
        return total > 0

    async def _surname_matches(
        self,
        ctx: RequestContext,
        scope: Scope,
        school_id: str,
        prefix: str,
        region_id: str | None,
    ) -> frozenset[str]:
        """The school's pupils whose surname starts with `prefix`, among those whose name the
        caller sees in the list (open portfolios; never for a caller who sees no names). The
        names not indexed yet are opened once, to index them, and that is audited."""
        if not (scope.sees_names and scope.sees_portfolio):
            raise AccessDenied("Only a caller who sees the pupils' names may search by surname.")
        candidates = await self.reader.open_in_school(school_id, self.today(), region_id=region_id)
        self.surnames.retain(school_id, candidates)
        unindexed = self.surnames.unindexed(candidates)
        if unindexed:
            names = await self.personal_fields.names(unindexed)
            for participant in unindexed:
                name = names.get(participant.participant_id)
                if name is None or name.erased:
                    self.surnames.forget(participant.participant_id)
                else:
                    self.surnames.learn(participant, name.last_name, erased=False)
            await self.audit.record(
                *(
                    ctx.audit(Access.READ, participant_id, "portfolio_surname_index", [NAME_FIELD])
                    for participant_id in sorted(names)
                )
            )
        matched = set()
        for participant_id in self.surnames.matching(prefix, candidates):
            # A key destroyed before the erasure is recorded: the name is gone, and so its index.
            if await self.cipher.has_key(participant_id):
                matched.add(participant_id)
            else:
                self.surnames.forget(participant_id)
        return frozenset(matched)

    async def children(self, ctx: RequestContext) -> list[Summary]:
        """The children the identity provider names in the guardian's token, as far as the
        portfolio knows them."""
        principal = ctx.principal
        if principal.role is not Role.GUARDIAN:
            raise AccessDenied("Only a guardian has children here.")
        claimed = await self.reader.children(principal.children)
        return await self._summaries(
            ctx, self._listed(principal, claimed, self.today()), purpose="portfolio_children"
        )


def _sort_value(
    query: SchoolQuery, participant: ParticipantRecord, *, detailed: bool
) -> int | str | None:
    """The last row's sort key, as the cursor carries it: nothing of a portfolio the caller does
    not see (it sorted as NULL)."""
    column = query.sort.column
    if column == "grade":
        return participant.grade
    if column == "progress":
        if not detailed:
            return None
        progress = participant.progress
        return progress.stages_completed + progress.career_events_attended
    if column == "updated_at":
        return participant.updated_at if detailed else None
    return participant.participant_id
