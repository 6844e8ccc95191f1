"""The portfolio's queries: who may see what, the consent gate, names opened for entitled roles,
the audit of every read of personal data, and read-your-writes waits.

The read model holds personal fields only sealed; they are opened per request
(application/personal_fields.py), and only for the scopes entitled to them
(`Scope.sees_names`). Every answer that shows a participant's portfolio or name is audited with
ids and field names only (`bilet.audit`), whether it was rendered for the request or taken from
the cache of rendered answers (application/view_cache.py, ADR 0025).
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from bilet.application import RequestContext
from bilet.audit import Access, AuditLog
from bilet.crypto import FieldCipher
from bilet.http.auth import Principal
from bilet.http.consistency import PositionToken
from bilet.projections import NotApplied
from bilet_portfolio.application.access import (
    Decision,
    Scope,
    require_portfolio_role,
    scope_of,
    unknown_participant,
)
from bilet_portfolio.application.errors import (
    ConsentRequired,
    NotYetVisible,
    ParticipantErased,
    UnknownSource,
)
from bilet_portfolio.application.listing import ListCursors
from bilet_portfolio.application.lists import SchoolLists
from bilet_portfolio.application.personal_fields import (
    NAME_FIELD,
    DisplayName,
    PersonalFields,
)
from bilet_portfolio.application.ports import PortfolioReader, Snapshot
from bilet_portfolio.application.surname_index import SurnameIndex
from bilet_portfolio.application.view_cache import RenderedView, ViewCache
from bilet_portfolio.domain.consent import ConsentState
from bilet_portfolio.domain.views import (
    ParticipantRecord,
    PortfolioRecord,
    StageAttempt,
    stage_order,
    stages_shown,
)
from bilet_portfolio.settings import SOURCES

_log = logging.getLogger(__name__)

# Who reads, and the correlation id of their request.
ReadContext = RequestContext


@dataclass(frozen=True)
class PortfolioView:
    participant: ParticipantRecord
    scope: Scope
    consent_state: ConsentState
    open: bool  # the consent opens the portfolio (whether this caller sees it: `record`)
    etag: str
    # None when the caller (the school's registrar, or the school while closed) may see only
    # the consent state.
    record: PortfolioRecord | None = None
    name: DisplayName | None = None
    stages: list[StageAttempt] = field(default_factory=list)
    comments: dict[str, str | None] = field(default_factory=dict)
    # The personal fields the read of it was audited for (empty: it shows none).
    audited_fields: tuple[str, ...] = ()


def _today() -> date:
    return datetime.now(UTC).date()


def etag_of(
    participant: ParticipantRecord,
    reference_version: int,
    scope: Scope,
    state: ConsentState,
    *,
    names_erased: bool = False,
) -> str:
    """A weak ETag of everything that shapes the representation: the portfolio's version, the
    version of the reference data it shows (school and region names, season rules, testing
    windows), the scope (names shown or not, the consent alone), the consent state on the day
    (expiry), and whether the names shown now read as erased (the key destroyed)."""
    erased = "-erased" if names_erased else ""
    return f'W/"{participant.version}.{reference_version}-{scope.value}-{state.value}{erased}"'


class PortfolioQueries(SchoolLists):
    def __init__(
        self,
        reader: PortfolioReader,
        cipher: FieldCipher,
        audit: AuditLog,
        *,
        cursors: ListCursors,
        wait_timeout: float = 2.0,
        today: Callable[[], date] = _today,
        views: ViewCache | None = None,
    ) -> None:
        self.reader = reader
        self.cipher = cipher
        self.personal_fields = PersonalFields(cipher)
        self.audit = audit
        self.cursors = cursors
        self.wait_timeout = wait_timeout
        self.today = today
        self.views = ViewCache() if views is None else views
        self.surnames = SurnameIndex()

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
    def _decide(
        self, principal: Principal, participant: ParticipantRecord, today: date
    ) -> Decision:
        """Access, erasure and the consent gate, on one state of the participant's row: the one
        rule of what a caller sees of a pupil, for the portfolio and for every list row alike."""
        scope = scope_of(
            principal, participant.participant_id, participant.school_id, participant.region_id
        )
        if participant.erased:
            self.views.forget(participant.participant_id)
            self.surnames.forget(participant.participant_id)
            raise ParticipantErased(
                "The participant's personal data was destroyed; the portfolio is gone.",
                erased_at=participant.erased_at,
            )
        state = participant.consent.state_on(today)
        opens = participant.consent.opens_portfolio(today)
        if not opens and not scope.sees_closed:
            raise ConsentRequired(
                "Without a verified consent covering the portfolio, it is closed.",
                consent_state=state.value,
            )
        return Decision(scope, state, opens)

    async def check(
        self, ctx: ReadContext, participant_id: str, *, fresh: bool = False
    ) -> PortfolioView:
        """Access, erasure and the consent gate, and the ETag, without reading the portfolio:
        what an ETag comparison and the updates stream need. The participant's row comes from
        the cache while no change of it has been heard (ADR 0080), unless `fresh` (a read that
        waited for a write reads the row the write left, not one a notice may not yet have
        dropped)."""
        require_portfolio_role(ctx.principal)
        snapshot = None if fresh else self.views.row(participant_id)
        if snapshot is None:
            ticket = await self._ticket() if self.views.keeps_rows else None
            snapshot = await self.reader.participant(participant_id)
            if snapshot is not None and ticket is not None:
                self.views.keep_row(participant_id, snapshot, ticket)
        if snapshot is None:
            raise unknown_participant()
        participant = snapshot.participant
        decision = self._decide(ctx.principal, participant, self.today())
        # Whether the name shown would read as erased: nothing is shown, so nothing is audited.
        names_erased = (
            decision.shows_portfolio
            and decision.scope.sees_names
            and await self.personal_fields.name_erased(participant)
        )
        etag = etag_of(
            participant,
            snapshot.reference_version,
            decision.scope,
            decision.state,
            names_erased=names_erased,
        )
        return PortfolioView(participant, decision.scope, decision.state, decision.open, etag)

    async def rendered(
        self,
        ctx: ReadContext,
        checked: PortfolioView,
        render: Callable[[PortfolioView], bytes],
    ) -> RenderedView:
        """The portfolio as `check` just found it for this caller, rendered by `render`: from the
        cache when an answer with the same ETag was rendered before (audited again: a read is a
        read), else read, opened, audited and rendered now, and kept."""
        participant_id = checked.participant.participant_id
        cached = self.views.get(participant_id, checked.etag)
        if cached is not None and (
            not cached.personal or await self.cipher.has_key(participant_id)
        ):
            if cached.personal:
                await self.audit.record(
                    ctx.audit(
                        Access.READ, participant_id, "portfolio_view", list(cached.audited_fields)
                    )
                )
            return cached
        if cached is not None:  # opened with a key that is gone: nothing of it is kept
            self.views.forget(participant_id)
        ticket = await self._ticket()
        view = await self.portfolio(ctx, participant_id)
        fresh = RenderedView(view.etag, render(view), view.audited_fields)
        if ticket is not None:
            self.views.put(participant_id, fresh, ticket)
        return fresh

    async def _ticket(self) -> int | None:
        """The cache's ticket, taken before the state to keep is read: a change committed
        meanwhile (an erasure) is heard by the cache, which then keeps nothing read from the
        state before it. None where the changes cannot be heard now (no listening connection):
        then nothing read is kept."""
        try:
            await self.reader.hear_changes()
        except Exception:  # the read goes on; only the cache does without it
            _log.warning("not listening to the read model's changes: nothing read is kept")
            return None
        return self.views.ticket()

    async def portfolio(self, ctx: ReadContext, participant_id: str) -> PortfolioView:
        """The portfolio as this caller may see it. Access and the consent gate are decided on
        the participant's row of the same read the portfolio comes from."""
        require_portfolio_role(ctx.principal)
        today = self.today()
        decisions: list[Decision] = []

        def wanted(snapshot: Snapshot) -> bool:
            decision = self._decide(ctx.principal, snapshot.participant, today)
            decisions.append(decision)
            return decision.shows_portfolio

        snapshot = await self.reader.portfolio(participant_id, wanted)
        if snapshot is None:
            raise unknown_participant()
        (decision,) = decisions
        participant, record = snapshot.participant, snapshot.record
        scope, state = decision.scope, decision.state
        if record is None:  # the school: the consent state only
            etag = etag_of(participant, snapshot.reference_version, scope, state)
            return PortfolioView(participant, scope, state, decision.open, etag)
        fields = ["portfolio"]
        name = None
        comments: dict[str, str | None] = {}
        if scope.sees_names:
            name, comments = await self.personal_fields.of_portfolio(
                participant_id, participant.sealed_name, record
            )
            if name is not None:
                self.surnames.learn(participant, name.last_name, name.erased)
            fields.append(NAME_FIELD)
            if comments:
                fields.append("mentor_comment")
        await self.audit.record(ctx.audit(Access.READ, participant_id, "portfolio_view", fields))
        stages = sorted(
            stages_shown(record.attempts),
            key=lambda attempt: (
                attempt.season,
                stage_order(record.stages_of_season, attempt.stage),
                attempt.stage,
            ),
        )
        etag = etag_of(
            participant,
            snapshot.reference_version,
            scope,
            state,
            names_erased=name is not None and name.erased,
        )
        return PortfolioView(
            participant,
            scope,
            state,
            decision.open,
            etag,
            record,
            name,
            stages,
            comments,
            tuple(fields),
        )
