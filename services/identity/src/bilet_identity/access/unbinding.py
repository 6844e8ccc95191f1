"""Unbinding a pupil's lost account (docs/adr/0053): the operator, or the registrar of the pupil's
school, ends the binding of every account that is the pupil's; the pupil then binds a new account
with a new code. Accounts are kept under keyed hashes, so which accounts are a pupil's is read
from a small in-process view of the account streams (`BoundAccounts`), caught up before each use;
the decision itself is the account decider's, on each account's own stream."""

from dataclasses import dataclass
from typing import Final
from uuid import UUID

from bilet.application import Attempt
from bilet.audit import Access
from bilet.http.auth import Role
from bilet_identity.access.bindings import account_fold
from bilet_identity.access.grants import LINK_FIELDS
from bilet_identity.access.pupil_index import PupilIndex
from bilet_identity.application import access
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.inputs import CommandContext
from bilet_identity.domain import accounts
from bilet_identity.domain.internal import ACCOUNT_CATEGORY, PupilAccountBound, PupilAccountUnbound

UNBIND_PURPOSE: Final = "unbind_account"


class BoundAccounts(PupilIndex):
    """Which accounts (by key) are each pupil's now."""

    category = ACCOUNT_CATEGORY

    def _apply(self, event: object, position: int) -> None:
        match event:
            case PupilAccountBound():
                self._pupil_of[event.account_key] = event.participant_id
            case PupilAccountUnbound():
                self._pupil_of.pop(event.account_key, None)
            case _:
                pass  # a guardian's binding: not a pupil's account


@dataclass(frozen=True)
class Unbound:
    participant_id: UUID
    accounts: int
    position: int


class PupilUnbinding:
    def __init__(self, core: IdentityCore) -> None:
        self.core = core
        self.bound = BoundAccounts(core.store)

    async def unbind(self, ctx: CommandContext, participant_id: UUID) -> Unbound:
        """Unbind every account that is the pupil's. Refused (`no_bound_account`) when none
        is; a registrar of another school is told the pupil is unknown."""
        access.require_role(ctx.principal, Role.OPERATOR, Role.REGISTRAR)
        core = self.core
        participant = await core._existing(core.transactor.attempt(), participant_id)
        if ctx.principal.role is Role.REGISTRAR:
            with access.unknown_if_out_of_scope():
                access.require_registrar_of(ctx.principal, participant.school_id)
        keys = await self.bound.of_pupil(participant_id)
        if not keys:
            raise accounts.AccountNotBound()

        async def decide(attempt: Attempt) -> int:
            for key in keys:
                fold = account_fold(key)
                command = accounts.UnbindPupil(key, participant_id)
                unbound = accounts.decide_account(command, await attempt.state(fold))
                attempt.append(fold.stream_id, unbound)
            return len(keys)

        outcome = await core.transactor.transact_many(ctx, decide)
        await core.audit.record(
            ctx.audit(Access.WRITE, participant_id, UNBIND_PURPOSE, LINK_FIELDS)
        )
        return Unbound(participant_id, outcome.value, outcome.position)
