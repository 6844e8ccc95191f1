"""The identity service's use cases.

Commands (one handler each; they fail loudly) run on the kernel's command path
(`bilet.application.Transactor`): load the streams they decide on, fold them, decide, seal the
personal plaintext with the participant's key, append with the expected versions (several streams
in one atomic append where one decision spans them), and decide again when another writer was
faster. They return the position of their commit on a published stream: the read-your-writes
token. Queries read the small catalogue view (`catalogue`) or fold a participant's streams. Every
read or write of personal data is audited (`bilet.audit`), by ids only.

The use cases are grouped by idea: the programme's frame (`programme`), registration and the
uniqueness of a child (`registration`), a participant's later life (`lifecycle`), a school's
list of its pupils (`school_pupils`), pupils who leave (`departures`),
duplicate reviews resolved (`reviews`), and what is
purged once consent has erased them (`erasures`).
"""

from bilet_identity.application.departures import Departures
from bilet_identity.application.erasures import ErasureRelease
from bilet_identity.application.lifecycle import ParticipantLife
from bilet_identity.application.programme import ProgrammeCommands
from bilet_identity.application.reviews import DuplicateReviews
from bilet_identity.application.school_pupils import SchoolPupils


class IdentityService(
    ProgrammeCommands, ParticipantLife, Departures, SchoolPupils, DuplicateReviews, ErasureRelease
):
    """Every use case of identity, over one store, key store, audit trail and pseudonym key."""
