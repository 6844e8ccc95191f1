"""Pupils' and guardians' accounts, the use cases (docs/adr/0053): a school's registrar issues
one-time codes for a class of their pupils; a consent's verifier issues the guardian's code of a
consent (in development it is handed over printed with the consent; in production the identity
provider's verified identity stands in for it); the account that redeems a code is bound to the
participant, as the pupil or as the guardian. `AccountDirectory` answers the claims endpoint
from those bindings (`bilet_identity.access.links.AccountLinks`)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final
from uuid import UUID

from bilet.application import Attempt, Fold
from bilet.audit import Access
from bilet.http.auth import Role
from bilet_identity.access import codes
from bilet_identity.access.attempts import AttemptLimiter
from bilet_identity.access.code_view import OpenPupilCodes
from bilet_identity.access.grants import LINK_FIELDS
from bilet_identity.application import access, streams
from bilet_identity.application.base import IdentityCore
from bilet_identity.application.consent_state import ConsentState
from bilet_identity.application.details import personal_of
from bilet_identity.application.inputs import CommandContext
from bilet_identity.domain import accounts
from bilet_identity.domain.accounts import Account, BindingCode, BindingCodeTaken
from bilet_identity.domain.errors import DomainError, SchoolNotFound
from bilet_identity.domain.internal import BindingPurpose
from bilet_identity.domain.people import FullName

PUPIL_CODE_DAYS: Final = 14  # long enough to reach every pupil of a class, short enough to lapse
GUARDIAN_CODE_DAYS: Final = 30  # handed over with the consent, which may take a while to verify
CLASS_LIST_PURPOSE: Final = "binding_codes"
BIND_PURPOSE: Final = "bind_account"
# The roles that verify consents (the consent service's verifiers): they issue guardians' codes.
CONSENT_VERIFIERS: Final = (Role.OPERATOR, Role.COORDINATOR)
# Which codes a role redeems: a pupil's account its own code, a guardian's the consent's code.
REDEEMED_BY: Final = {Role.PUPIL: BindingPurpose.PUPIL, Role.GUARDIAN: BindingPurpose.GUARDIAN}
_DRAWS: Final = 3  # a collision of 60 random bits never happens; three draws are plenty


class GuardianCodesOff(DomainError):
    code = "guardian_codes_off"

    def __init__(self) -> None:
        super().__init__(
            "Guardians' codes are not issued in this deployment: a guardian proves who they are "
            "through the identity provider's verified identity."
        )


class UnknownConsent(DomainError):
    code = "unknown_consent"

    def __init__(self) -> None:
        super().__init__(
            "No such consent is pending or in force for this participant (as identity knows "
            "the consent service's stream)."
        )


@dataclass(frozen=True)
class IssuedCode:
    participant_id: UUID
    code: str  # printed form, shown once: only its keyed hash is kept
    expires_at: datetime
    full_name: FullName | None = None  # on a class list
    grade: int | None = None
    class_letter: str | None = None

    def __repr__(self) -> str:
        return f"IssuedCode({self.participant_id}, <hidden>)"


@dataclass(frozen=True)
class Bound:
    participant_id: UUID
    purpose: BindingPurpose


def code_fold(code_key: str) -> Fold[BindingCode | None]:
    return Fold(accounts.code_stream_id(code_key), accounts.initial_code, accounts.evolve_code)


def account_fold(account_key: str) -> Fold[Account]:
    return Fold(
        accounts.account_stream_id(account_key),
        accounts.initial_account(account_key),
        accounts.evolve_account,
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccountBindings:
    """The use cases of pupils' and guardians' accounts, over identity's core."""

    def __init__(
        self,
        core: IdentityCore,
        limiter: AttemptLimiter,
        *,
        clock: Callable[[], datetime] = _utc_now,
        guardian_codes: bool = True,
    ) -> None:
        self.core = core
        self.limiter = limiter
        self.clock = clock
        self.guardian_codes = guardian_codes  # the development path of a guardian's entitlement
        self.open_codes = OpenPupilCodes(core.store)

    async def issue_class_codes(
        self, ctx: CommandContext, school_id: UUID, grade: int, class_letter: str | None
    ) -> list[IssuedCode]:
        """A new code for each pupil of the school's class (of the whole grade without a
        letter), with their names for the printed list. The pupils' earlier unused codes are
        cancelled: only the newest list binds (a lost or leaked list is replaced by a new one)."""
        access.require_registrar_of(ctx.principal, school_id)
        core = self.core
        await core.catalogue.refresh()
        if school_id not in core.catalogue.schools:
            raise SchoolNotFound()
        await core.roster.refresh()
        expires_at = self.clock() + timedelta(days=PUPIL_CODE_DAYS)
        issued: list[IssuedCode] = []
        for entry in core.roster.pupils_of(school_id, grade=grade):
            if class_letter is not None and entry.class_letter != class_letter:
                continue
            pid = entry.participant.participant_id
            loaded = await core.transactor.attempt().load(streams.participant(pid))
            details = (await personal_of(core.cipher, loaded.events)).details
            if details is None:
                continue  # erased: no account to bind
            await self._cancel_open_codes(ctx, pid)
            code = await self._issue(ctx, BindingPurpose.PUPIL, pid, expires_at, None)
            issued.append(
                IssuedCode(
                    pid,
                    code,
                    expires_at,
                    details.full_name,
                    entry.participant.grade,
                    entry.class_letter,
                )
            )
        await core.audit.record(
            *(
                ctx.audit(Access.READ, row.participant_id, CLASS_LIST_PURPOSE, ("full_name",))
                for row in issued
            )
        )
        return issued

    async def issue_guardian_code(
        self, ctx: CommandContext, participant_id: UUID, consent_id: UUID
    ) -> IssuedCode:
        """The code of the consent `consent_id` (pending or verified) for its signer: the
        consent's verifiers, within their scope, issue it (docs/adr/0053)."""
        access.require_role(ctx.principal, *CONSENT_VERIFIERS)
        if not self.guardian_codes:
            raise GuardianCodesOff()
        participant = await self.core._existing(self.core.transactor.attempt(), participant_id)
        if ctx.principal.role is Role.COORDINATOR:
            with access.unknown_if_out_of_scope():
                access.require_coordinator_of(ctx.principal, participant.region_id)
        consents = self.core.consents
        known = frozenset() if consents is None else await consents.consents_known(participant_id)
        if consent_id not in known:
            raise UnknownConsent()
        expires_at = self.clock() + timedelta(days=GUARDIAN_CODE_DAYS)
        code = await self._issue(
            ctx, BindingPurpose.GUARDIAN, participant_id, expires_at, consent_id
        )
        return IssuedCode(participant_id, code, expires_at)

    async def redeem(self, ctx: CommandContext, typed: str, source: str) -> Bound:
        """Bind the caller's account by the code they typed. Refused, the right code included,
        while the account or the source has used up its wrong codes (`too_many_attempts`)."""
        access.require_role(ctx.principal, *REDEEMED_BY)
        purpose = REDEEMED_BY[ctx.principal.role]
        account_key = self.core.pseudonyms.account_key(ctx.principal.subject)
        keys = [("account", account_key), ("source", source)]
        self.limiter.check(keys)
        code = codes.normalised(typed)
        try:
            if code is None:
                raise accounts.InvalidBindingCode()
            return await self._bind(ctx, code, account_key, purpose)
        except (
            accounts.InvalidBindingCode,
            accounts.BindingCodeExpired,
            accounts.BindingCodeUsed,
            accounts.BindingCodeReplaced,
            accounts.WrongCodePurpose,
        ):
            self.limiter.failed(keys)
            raise

    async def _bind(
        self, ctx: CommandContext, code: str, account_key: str, purpose: BindingPurpose
    ) -> Bound:
        code_key = self.core.pseudonyms.binding_code_key(code)
        now = self.clock()

        async def decide(attempt: Attempt) -> Bound:
            fold = code_fold(code_key)
            state = await attempt.state(fold)
            redeemed = accounts.decide_code(
                accounts.RedeemCode(code_key, account_key, purpose, now), state
            )
            assert state is not None  # redeemed: the code exists
            account = account_fold(account_key)
            bind: accounts.AccountCommand = (
                accounts.BindGuardian(account_key, state.participant_id, state.consent_id)
                if state.consent_id is not None  # a guardian's code (`decide_code` holds it)
                else accounts.BindPupil(account_key, state.participant_id)
            )
            bound = accounts.decide_account(bind, await attempt.state(account))
            attempt.append(fold.stream_id, redeemed)
            attempt.append(account.stream_id, bound)
            return Bound(state.participant_id, state.purpose)

        outcome = await self.core.transactor.transact_many(ctx, decide)
        bound = outcome.value
        # Which pupil an account is, or whose guardian, is written once here: audited.
        await self.core.audit.record(
            ctx.audit(Access.WRITE, bound.participant_id, BIND_PURPOSE, LINK_FIELDS)
        )
        return bound

    async def _cancel_open_codes(self, ctx: CommandContext, participant_id: UUID) -> None:
        open_keys = await self.open_codes.of_pupil(participant_id)
        if not open_keys:
            return

        async def decide(attempt: Attempt) -> None:
            for key in open_keys:
                fold = code_fold(key)
                cancelled = accounts.decide_code(
                    accounts.CancelCode(key), await attempt.state(fold)
                )
                attempt.append(fold.stream_id, cancelled)

        await self.core.transactor.transact_many(ctx, decide)

    async def _issue(
        self,
        ctx: CommandContext,
        purpose: BindingPurpose,
        participant_id: UUID,
        expires_at: datetime,
        consent_id: UUID | None,
    ) -> str:
        for _ in range(_DRAWS):
            code = codes.new_code()
            if await self._issued(ctx, code, purpose, participant_id, expires_at, consent_id):
                return codes.printed(code)
        raise BindingCodeTaken()

    async def _issued(
        self,
        ctx: CommandContext,
        code: str,
        purpose: BindingPurpose,
        participant_id: UUID,
        expires_at: datetime,
        consent_id: UUID | None,
    ) -> bool:
        """Issue this code; False when it collides with an issued one."""
        code_key = self.core.pseudonyms.binding_code_key(code)
        command = accounts.IssueCode(code_key, purpose, participant_id, expires_at, consent_id)

        def decide(state: BindingCode | None) -> list[accounts.CodeEvent]:
            return accounts.decide_code(command, state)

        try:
            await self.core.transactor.transact(ctx, code_fold(code_key), decide)
        except BindingCodeTaken:
            return False
        return True


class AccountDirectory:
    """The participant an account is and the children it may act for, as the claims endpoint
    asks (`AccountLinks`): a guardian's children only while the consent of their code is the
    verified one in force today."""

    def __init__(self, core: IdentityCore, today: Callable[[], date] | None = None) -> None:
        self.core = core
        self.today = today or core.today

    async def _account(self, subject: str) -> Account:
        fold = account_fold(self.core.pseudonyms.account_key(subject))
        return await self.core.transactor.attempt().state(fold)

    async def participant_of(self, subject: str) -> str | None:
        """The pupil the account is: the kept profile when theirs was merged into it
        (docs/adr/0043); nobody once the pupil was erased."""
        account = await self._account(subject)
        if account.participant_id is None:
            return None
        fold = streams.participant(account.participant_id)
        participant = await self.core.transactor.attempt().state(fold)
        if participant is None:
            return None
        pid = participant.merged_into or participant.participant_id
        consents = self.core.consents
        if consents is not None:
            [state] = (await consents.states_of([pid], self.today())).values()
            if state is ConsentState.ERASED:
                return None
        return str(pid)

    async def children_of(self, subject: str) -> frozenset[str]:
        consents = self.core.consents
        if consents is None:
            return frozenset()  # no consent is known: nobody is entitled
        account = await self._account(subject)
        today = self.today()
        entitled: list[str] = []
        for child, _consent in account.guardian_of:
            in_force = await consents.consent_in_force(child, today)
            if accounts.guardian_entitled(account, child, in_force):
                entitled.append(str(child))
        return frozenset(entitled)


def issued_rows(issued: Sequence[IssuedCode]) -> list[list[str]]:
    """A class list's rows for printing: surname, name, patronymic, class, code, valid until."""
    rows = []
    for row in issued:
        name = row.full_name
        grade = "" if row.grade is None else f"{row.grade}{row.class_letter or ''}"
        rows.append(
            [
                name.last_name if name else "",
                name.first_name if name else "",
                (name.patronymic or "") if name else "",
                grade,
                row.code,
                row.expires_at.date().isoformat(),
            ]
        )
    return rows
