"""The routes of pupils' and guardians' accounts (docs/adr/0053): a class list of pupils' binding
codes (JSON, or CSV to print), a consent's guardian code, and a code redeemed by the caller's
account."""

import csv
import io
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from bilet.http.context import Context
from bilet_identity.access import codes
from bilet_identity.access.bindings import AccountBindings, IssuedCode, issued_rows
from bilet_identity.access.unbinding import PupilUnbinding
from bilet_identity.api.models import Request as RequestModel
from bilet_identity.api.problems import problems
from bilet_identity.api.routes.common import answer_position
from bilet_identity.domain.internal import BindingPurpose

router = APIRouter(prefix="/v1")

CSV_MEDIA_TYPE: Final = "text/csv"
# The printed list's columns, for the class teacher who cuts it into slips.
CSV_HEADER: Final = ("Фамилия", "Имя", "Отчество", "Класс", "Код", "Действует до")
CLASS_LETTER_PATTERN: Final = r"^[А-ЯЁ]$"
CODE_DESCRIPTION: Final = (
    "The code as printed (three groups of four of `0-9`, `A-Z` without I, L, O, U), typed "
    "with or without dashes or spaces, in either case."
)


def _bindings(request: Request) -> AccountBindings:
    bindings: AccountBindings = request.app.state.account_bindings
    return bindings


class ClassCodesFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class ClassCodesRequest(RequestModel):
    grade: int = Field(ge=1, le=11, description="The pupils' grade.")
    class_letter: str | None = Field(
        default=None,
        pattern=CLASS_LETTER_PATTERN,
        description="The class's letter (7«Б»: Б); omitted: every pupil of the grade.",
    )


class PupilCodeModel(BaseModel):
    participant_id: UUID
    last_name: str
    first_name: str
    middle_name: str | None
    grade: int
    class_letter: str | None
    code: str = Field(description="Shown this once: only its keyed hash is kept.")
    expires_at: datetime


class ClassCodesResponse(BaseModel):
    codes: list[PupilCodeModel]


class GuardianCodeRequest(RequestModel):
    consent_id: UUID = Field(
        description="The participant's consent (pending or verified) whose signer gets the code."
    )


class GuardianCodeResponse(BaseModel):
    participant_id: UUID
    consent_id: UUID
    code: str = Field(description="Shown this once: only its keyed hash is kept.")
    expires_at: datetime


class RedeemRequest(RequestModel):
    code: str = Field(pattern=codes.TYPED_PATTERN, description=CODE_DESCRIPTION)


class RedeemedResponse(BaseModel):
    participant_id: UUID = Field(
        description="The pupil the account is now, or the child it acts for while the consent "
        "is verified and in force."
    )
    purpose: BindingPurpose


def _pupil_code(row: IssuedCode) -> PupilCodeModel:
    # A class list's row: always named, always of a grade.
    assert row.full_name is not None
    assert row.grade is not None
    return PupilCodeModel(
        participant_id=row.participant_id,
        last_name=row.full_name.last_name,
        first_name=row.full_name.first_name,
        middle_name=row.full_name.patronymic,
        grade=row.grade,
        class_letter=row.class_letter,
        code=row.code,
        expires_at=row.expires_at,
    )


def _printable(issued: list[IssuedCode]) -> Response:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(issued_rows(issued))
    return Response(
        # A byte-order mark, so that a spreadsheet opens the Cyrillic as UTF-8.
        content="\ufeff" + text.getvalue(),
        status_code=201,
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="binding-codes.csv"'},
    )


@router.post(
    "/schools/{school_id:uuid}/binding-codes",
    name="issue_class_binding_codes",
    tags=["accounts"],
    summary="Issue one-time codes for a class of the school's pupils (the school's registrar)",
    status_code=201,
    response_model=ClassCodesResponse,
    responses={
        201: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}},
        **problems(403, 404),
    },
)
async def issue_class_binding_codes(
    school_id: UUID,
    body: ClassCodesRequest,
    request: Request,
    context: Context,
    output: Annotated[
        ClassCodesFormat,
        Query(
            alias="format",
            description="`json` (default), or `csv` to print: `;`-separated, UTF-8, a header "
            "row in Russian (surname, name, patronymic, class, code, valid until).",
        ),
    ] = ClassCodesFormat.JSON,
) -> ClassCodesResponse | Response:
    """A new one-time code for each pupil of the class (of the whole grade without
    `class_letter`), with their names, to hand out on paper: the pupil types it into their
    own account, which is then bound to them (`POST /identity/v1/binding-codes/redemption`),
    so the school never learns the pupil's password. Each code is shown only in this answer
    (identity keeps only its keyed hash), is used once, and expires after 14 days; a new list
    issues new codes and cancels the pupils' earlier unused ones (a lost or leaked list is
    replaced by printing a new one; the old codes answer `binding_code_replaced`). Erased
    pupils are left out. Opening the names is audited.

    **Who:** the registrar of the school only.

    **Refusals:** 403 `forbidden` (any other role, another school's registrar); 404
    `school_not_found`; 422 `invalid_request` (grade outside 1–11, a class letter that is not
    one capital Cyrillic letter, `format` other than `json` or `csv`).
    """
    bindings = _bindings(request)
    issued = await bindings.issue_class_codes(context, school_id, body.grade, body.class_letter)
    if output is ClassCodesFormat.CSV:
        return _printable(issued)
    return ClassCodesResponse(codes=[_pupil_code(row) for row in issued])


@router.post(
    "/participants/{participant_id:uuid}/guardian-codes",
    name="issue_guardian_code",
    tags=["accounts"],
    summary="Issue the signer's code of a participant's consent (a consent's verifier)",
    status_code=201,
    responses=problems(403, 404, 409),
)
async def issue_guardian_code(
    participant_id: UUID, body: GuardianCodeRequest, request: Request, context: Context
) -> GuardianCodeResponse:
    """A one-time code for the guardian who signed the consent `consent_id` (pending or
    verified): the guardian types it into their own account, which then acts for the child
    while that consent is verified and in force; never before it is verified, and no more once
    it is rejected, withdrawn, expires or the child is erased. This is the development path:
    the verifier, who checks the signer's passport against the form, hands the code over with
    the guardian's copy of the consent. In production the identity provider's verified
    identity (ЕСИА) stands in for the code (docs/adr/0053), and the codes are off unless
    `BVB_IDENTITY_GUARDIAN_CODES=true`. Shown only in this answer, used once, expires after 30
    days.

    **Who:** the federal operator; a regional coordinator for a pupil of their region (the
    consent service's verifiers).

    **Refusals:** 403 `forbidden` (any other role), `guardian_codes_off` (not issued in this
    deployment); 404 `unknown_participant` (no such
    participant, or outside the coordinator's region), `unknown_consent` (no such consent
    pending or in force for the participant, as identity knows the consent service's stream);
    409 `version_conflict`; 422 `invalid_request`.
    """
    issued = await _bindings(request).issue_guardian_code(context, participant_id, body.consent_id)
    return GuardianCodeResponse(
        participant_id=issued.participant_id,
        consent_id=body.consent_id,
        code=issued.code,
        expires_at=issued.expires_at,
    )


@router.post(
    "/binding-codes/redemption",
    name="redeem_binding_code",
    tags=["accounts"],
    summary="Bind the caller's account by a one-time code (a pupil or a guardian)",
    responses=problems(403, 409, 429),
)
async def redeem_binding_code(
    body: RedeemRequest, request: Request, context: Context
) -> RedeemedResponse:
    """Bind the caller's account (their token's subject) by the code they were handed: a
    pupil's account becomes that pupil (`participant` in its next token); a guardian's account
    acts for the child (`children`) while the consent the code belongs to is verified and in
    force. A pupil redeems pupils' codes, a guardian guardians' codes.

    Wrong codes are counted per account and per source address: after 5 wrong codes of an
    account in 15 minutes (30 of an address), every attempt of it, the right code included, is
    refused with 429 `too_many_attempts` and `Retry-After` until the window ends. Codes carry
    60 random bits, so guessing one fails (docs/adr/0053).

    **Who:** a pupil's or a guardian's account (role `pupil` or `guardian`).

    **Refusals:** 403 `forbidden` (any other role); 409 `binding_code_used` (used already),
    `account_already_bound` (the account is another pupil already), `version_conflict`; 422
    `invalid_binding_code` (no such code), `binding_code_expired`, `binding_code_replaced` (a
    newer class list's code replaced it), `wrong_code_purpose` (a
    guardian's code typed by a pupil or the other way round), `invalid_request`; 429
    `too_many_attempts` (with `Retry-After`).
    """
    source = request.client.host if request.client is not None else "unknown"
    bound = await _bindings(request).redeem(context, body.code, source)
    return RedeemedResponse(participant_id=bound.participant_id, purpose=bound.purpose)


class UnboundResponse(BaseModel):
    participant_id: UUID
    unbound_accounts: int = Field(description="How many accounts were the pupil's (usually 1).")
    position: int = Field(description="The read-your-writes position (also in `BVB-Position`).")


@router.post(
    "/participants/{participant_id:uuid}/account-unbinding",
    name="unbind_pupil_account",
    tags=["accounts"],
    summary="Unbind a pupil's lost account (the operator or the pupil's school registrar)",
    responses=problems(403, 404, 409),
)
async def unbind_pupil_account(
    participant_id: UUID, request: Request, context: Context, response: Response
) -> UnboundResponse:
    """End the binding of every account that is this pupil's (a lost or taken-over account):
    from its next token the account names nobody, and the pupil binds a new account with a new
    code from their school's class list. Guardians' accounts are not touched (their
    entitlement follows the consent). Audited.

    **Who:** the federal operator; a registrar of the pupil's school.

    **Refusals:** 403 `forbidden` (any other role); 404 `unknown_participant` (no such
    participant, or a pupil of another school), `no_bound_account` (no account is the
    pupil's); 409 `version_conflict`.
    """
    unbinding: PupilUnbinding = request.app.state.pupil_unbinding
    unbound = await unbinding.unbind(context, participant_id)
    return UnboundResponse(
        participant_id=participant_id,
        unbound_accounts=unbound.accounts,
        position=answer_position(response, unbound.position),
    )
