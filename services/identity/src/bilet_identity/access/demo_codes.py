"""The demo's binding code (docs/adr/0053), so that a newcomer can try a redemption after
`make run`: the second pupil of МОУ «СОШ № 3» has no account yet, and a code for them is issued
at start. Development data only: the code is fixed (the banner prints it before the server
answers, as it prints the tokens), which no real code ever is — real codes are drawn from
`secrets` and shown once. Issued through the code decider like any other; a restart finds it
issued (or used) and leaves it be.
"""

from datetime import UTC, datetime
from typing import Final

from bilet.http.auth import Principal, Role
from bilet_identity.access import codes
from bilet_identity.access.bindings import AccountBindings, code_fold
from bilet_identity.application.inputs import CommandContext
from bilet_identity.demo import SCHOOLS, participant_id
from bilet_identity.domain import accounts
from bilet_identity.domain.internal import BindingPurpose

DEMO_CODE_PUPIL: Final = participant_id(SCHOOLS[0], 2)
DEMO_PUPIL_CODE: Final = "DEM0-P0P1-2019"  # Crockford's alphabet: zeros, not O's
# Far off, so the demo's stored data keeps a working code across restarts.
DEMO_CODE_EXPIRES: Final = datetime(2099, 12, 31, tzinfo=UTC)
# The subject a newcomer may use for the account that redeems it (`bvb dev-token`).
NEW_PUPIL_SUBJECT: Final = "new-pupil"


async def load_demo_code(bindings: AccountBindings) -> None:
    code = codes.normalised(DEMO_PUPIL_CODE)
    assert code is not None
    core = bindings.core
    code_key = core.pseudonyms.binding_code_key(code)
    command = accounts.IssueCode(code_key, BindingPurpose.PUPIL, DEMO_CODE_PUPIL, DEMO_CODE_EXPIRES)

    def decide(state: accounts.BindingCode | None) -> list[accounts.CodeEvent]:
        return [] if state is not None else accounts.decide_code(command, state)

    principal = Principal(subject="demo-data", role=Role.OPERATOR)
    await core.transactor.transact(
        CommandContext(principal, "demo-data"), code_fold(code_key), decide
    )
