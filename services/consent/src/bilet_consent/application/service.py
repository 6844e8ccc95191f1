"""The consent service's use cases.

Commands (one handler each; they fail loudly) check who asks against the participant's facts (the
read model of identity's events), then run on the kernel's command path
(`bilet.application.Transactor`): load the participant's consent stream, decide, seal the personal
plaintext with the participant's key, append with the expected versions (the consent stream and
the internal ones in one atomic append), and decide again when another writer was faster. They
return the store position of their commit on the published stream `consent-<participant>` (the
read-your-writes token; the internal streams written with it are never relayed, so a reader could
never wait for theirs). Queries fold the stream. Every read or write of personal data is audited
(`bilet.audit`), by ids only. A role with no access to a use case is refused before anything is
looked up; a participant outside the caller's scope is answered as unknown.

Grouped by idea: `commands`, `queries`, `listing` (the verification queue, participants'
states), `destruction`.
"""

from bilet_consent.application.commands import ConsentCommands
from bilet_consent.application.destruction import ConsentDestruction
from bilet_consent.application.listing import ConsentListing
from bilet_consent.application.queries import ConsentQueries


class ConsentService(ConsentCommands, ConsentQueries, ConsentListing, ConsentDestruction):
    """Every use case of consent, over one store, key store, document store and directory."""
