"""The portfolio's queries: who may see what, the consent gate, names opened for entitled roles,
the audit of every read of personal data, and read-your-writes waits.

The read model holds personal fields only sealed; they are opened here, per request, with the
participant's key from the suite's key store, and only for the scopes entitled to them
(`Scope.sees_names`). Every answer that shows a participant's portfolio or name is audited with
ids and field names only (`bilet.audit`).
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from bilet.audit import Access, AuditLog, AuditRecord
from bilet.crypto import FieldCipher, is_erased
from bilet.http.auth import Principal, Role
from bilet.http.consistency import PositionToken
from bilet.projections import NotApplied
from bilet_portfolio.application.access import (
    SCHOOL_ROLES,
    Scope,
    require_portfolio_role,
    scope_of,
    scope_on_school,
)
from bilet_portfolio.application.errors import (
    AccessDenied,
    ConsentRequired,
    NotYetVisible,
    ParticipantErased,
    UnknownParticipant,
    UnknownSchool,
    UnknownSource,
)
from bilet_portfolio.application.listing import After, SchoolQuery, encode_cursor
from bilet_portfolio.application.ports import PortfolioReader
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.views import (
    ParticipantRecord,
    PortfolioRecord,
    StageAttempt,
    stage_order,
    stages_shown,
)
from bilet_portfolio.settings import SOURCES

NAME_FIELD: Final = "full_name"
COMMENT_FIELD: Final = "comment"


@dataclass(frozen=True)
class ReadContext:
    principal: Principal
    correlation_id: str

    def audit(self, subject: str, purpose: str, fields: Sequence[str]) -> AuditRecord:
        return AuditRecord(
            actor=self.principal.subject,
            actor_role=self.principal.role.value,
            access=Access.READ,
            subject=subject,
            purpose=purpose,
            fields=tuple(fields),
            correlation_id=self.correlation_id,
        )


@dataclass(frozen=True)
class DisplayName:
    """The ФИО as the pupil's school registered it; `erased` once the key is destroyed."""

    last_name: str | None = None
    first_name: str | None = None
    patronymic: str | None = None
    erased: bool = False


@dataclass(frozen=True)
class Summary:
    """One participant in a list: the consent state always, the rest only when open."""

    participant: ParticipantRecord
    consent_state: ConsentState
    open: bool
    name: DisplayName | None


@dataclass(frozen=True)
class PortfolioView:
    participant: ParticipantRecord
    scope: Scope
    consent_state: ConsentState
    etag: str
    # None when the caller (the school) may see only the consent state.
    record: PortfolioRecord | None = None
    name: DisplayName | None = None
    stages: list[StageAttempt] = field(default_factory=list)
    comments: dict[str, str | None] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.record is not None


@dataclass(frozen=True)
class SchoolPage:
    school_id: str
    items: list[Summary]
    next_cursor: str | None


def _today() -> date:
    return datetime.now(UTC).date()


def etag_of(participant: ParticipantRecord, scope: Scope, state: ConsentState) -> str:
    """A weak ETag: the portfolio's version, and what decides its representation (the scope
    decides whether names are shown; the day decides whether a consent has expired)."""
    return f'W/"{participant.version}-{scope.value}-{state.value}"'


class PortfolioQueries:
    def __init__(
        self,
        reader: PortfolioReader,
        cipher: FieldCipher,
        audit: AuditLog,
        *,
        wait_timeout: float = 2.0,
        today: Callable[[], date] = _today,
    ) -> None:
        self.reader = reader
        self.cipher = cipher
        self.audit = audit
        self.wait_timeout = wait_timeout
        self.today = today

    # ------------------------------------------------------------------ read-your-writes
    async def await_tokens(self, tokens: Sequence[PositionToken]) -> None:
        """Wait, `wait_timeout` in all, until every token's effect is in the read model."""
        for token in tokens:
            if token.source not in SOURCES:
                raise UnknownSource(
                    f"The portfolio is built from {', '.join(SOURCES)}, not {token.source!r}.",
                    token=token.encode(),
                )
        deadline = time.monotonic() + self.wait_timeout
        for token in tokens:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                await self.reader.wait_until(
                    token.source, token.position, remaining, token.stream_id
                )
            except NotApplied as error:
                raise NotYetVisible(
                    f"The portfolio had not applied {token.encode()} after "
                    f"{self.wait_timeout:g} s; ask again shortly.",
                    token=token.encode(),
                    reached=error.reached,
                ) from None

    async def positions(self) -> dict[str, int]:
        return await self.reader.positions()

    # ------------------------------------------------------------------ one participant
    async def _scope(self, ctx: ReadContext, participant: ParticipantRecord) -> Scope:
        principal = ctx.principal
        linked = False
        if principal.role is Role.GUARDIAN and participant.participant_id not in (
            principal.children
        ):
            linked = await self.reader.is_guardian(participant.participant_id, principal.subject)
        return scope_of(
            principal,
            participant.participant_id,
            participant.school_id,
            participant.region_id,
            linked_guardian=linked,
        )

    async def check(self, ctx: ReadContext, participant_id: str) -> PortfolioView:
        """Access, erasure and the consent gate, without opening anything: what an ETag
        comparison and the updates stream need."""
        require_portfolio_role(ctx.principal)
        participant = await self.reader.participant(participant_id)
        if participant is None:
            raise UnknownParticipant("No participant with this id is known to the portfolio.")
        scope = await self._scope(ctx, participant)
        if participant.erased:
            raise ParticipantErased(
                "The participant's personal data was destroyed; the portfolio is gone.",
                erased_at=participant.erased_at,
            )
        state = participant.consent.state_on(self.today())
        if not participant.consent.opens_portfolio(self.today()) and scope is not Scope.SCHOOL:
            raise ConsentRequired(
                "Without a verified consent covering the portfolio, it is closed.",
                consent_state=state.value,
            )
        return PortfolioView(participant, scope, state, etag_of(participant, scope, state))

    async def portfolio(self, ctx: ReadContext, participant_id: str) -> PortfolioView:
        checked = await self.check(ctx, participant_id)
        if not checked.participant.consent.opens_portfolio(self.today()):
            return checked  # the school: the consent state only
        record = await self.reader.portfolio(participant_id)
        if record is None:  # erased between the two reads is the only way
            raise UnknownParticipant("No participant with this id is known to the portfolio.")
        participant = record.participant
        state = participant.consent.state_on(self.today())
        scope = checked.scope
        fields = ["portfolio"]
        name = None
        comments: dict[str, str | None] = {}
        if scope.sees_names:
            opened = await self._open(participant_id, participant.sealed_name, record)
            name = opened[0]
            comments = opened[1]
            fields.append(NAME_FIELD)
            if comments:
                fields.append("mentor_comment")
        await self.audit.record(ctx.audit(participant_id, "portfolio_view", fields))
        stages = sorted(
            stages_shown(record.attempts),
            key=lambda a: (a.season, stage_order(record.stages_of_season, a.stage), a.stage),
        )
        return PortfolioView(
            participant,
            scope,
            state,
            etag_of(participant, scope, state),
            record,
            name,
            stages,
            comments,
        )

    async def _open(
        self, participant_id: str, sealed_name: str | None, record: PortfolioRecord
    ) -> tuple[DisplayName | None, dict[str, str | None]]:
        envelopes: dict[str, Any] = {}
        if sealed_name is not None:
            envelopes[NAME_FIELD] = json.loads(sealed_name)
        opened = await self.cipher.decrypt(participant_id, envelopes) if envelopes else {}
        name = _display_name(opened.get(NAME_FIELD)) if sealed_name is not None else None
        comments: dict[str, str | None] = {}
        for feedback in record.feedback:
            if feedback.sealed_comment is None:
                continue
            value = (
                await self.cipher.decrypt(
                    participant_id, {COMMENT_FIELD: json.loads(feedback.sealed_comment)}
                )
            )[COMMENT_FIELD]
            comments[feedback.feedback_id] = (
                None if is_erased(value) or not isinstance(value, str) else value
            )
        return name, comments

    async def _names(self, participants: Sequence[ParticipantRecord]) -> dict[str, DisplayName]:
        names: dict[str, DisplayName] = {}
        for participant in participants:
            if participant.sealed_name is None:
                continue
            opened = await self.cipher.decrypt(
                participant.participant_id, {NAME_FIELD: json.loads(participant.sealed_name)}
            )
            name = _display_name(opened[NAME_FIELD])
            if name is not None:
                names[participant.participant_id] = name
        return names

    async def _summaries(
        self,
        ctx: ReadContext,
        participants: Sequence[ParticipantRecord],
        *,
        names_for: Callable[[ParticipantRecord], bool],
        purpose: str,
    ) -> list[Summary]:
        today = self.today()
        opened = [p for p in participants if p.consent.opens_portfolio(today)]
        named = [p for p in opened if names_for(p)]
        names = await self._names(named)
        records = [
            ctx.audit(
                p.participant_id,
                purpose,
                ["progress", NAME_FIELD] if p.participant_id in names else ["progress"],
            )
            for p in opened
        ]
        await self.audit.record(*records)
        return [
            Summary(
                participant=p,
                consent_state=p.consent.state_on(today),
                open=p.consent.opens_portfolio(today),
                name=names.get(p.participant_id),
            )
            for p in participants
        ]

    # ------------------------------------------------------------------ lists
    async def school(self, ctx: ReadContext, school_id: str, query: SchoolQuery) -> SchoolPage:
        principal = ctx.principal
        require_portfolio_role(principal)
        if principal.role not in (*SCHOOL_ROLES, Role.COORDINATOR, Role.OPERATOR):
            raise AccessDenied("Only the school, its region's coordinator and the operator.")
        school = await self.reader.school(school_id)
        if principal.role in SCHOOL_ROLES:
            scope = scope_on_school(principal, school_id, None)
        elif school is None:
            if principal.role is Role.OPERATOR:
                raise UnknownSchool("No school with this id is known to the portfolio.")
            raise AccessDenied("You may not see this school's participants.")
        else:
            scope = scope_on_school(principal, school_id, school.region_id)
        rows = await self.reader.school_page(school_id, query, self.today())
        page, more = rows[: query.limit], len(rows) > query.limit
        items = await self._summaries(
            ctx, page, names_for=lambda _: scope.sees_names, purpose="portfolio_school_list"
        )
        cursor = None
        if more and page:
            last = page[-1]
            cursor = encode_cursor(query, After(_sort_value(query, last), last.participant_id))
        return SchoolPage(school_id, items, cursor)

    async def children(self, ctx: ReadContext) -> list[Summary]:
        principal = ctx.principal
        if principal.role is not Role.GUARDIAN:
            raise AccessDenied("Only a guardian has children here.")
        participants = [
            p
            for p in await self.reader.children(principal.subject, principal.children)
            if not p.erased
        ]
        return await self._summaries(
            ctx, participants, names_for=lambda _: True, purpose="portfolio_children"
        )


def _sort_value(query: SchoolQuery, participant: ParticipantRecord) -> int | str | None:
    column = query.sort.column
    if column == "grade":
        return participant.grade
    if column == "progress":
        progress = participant.progress
        return progress.stages_completed + progress.career_events_attended
    if column == "updated_at":
        return participant.updated_at
    return participant.participant_id


def _display_name(value: object) -> DisplayName | None:
    if is_erased(value):
        return DisplayName(erased=True)
    if not isinstance(value, dict):
        return None

    def text(key: str) -> str | None:
        item = value.get(key)
        return item if isinstance(item, str) else None

    return DisplayName(text("last_name"), text("first_name"), text("patronymic"))
