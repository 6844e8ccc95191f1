"""The diagnostics service's use cases.

Commands (one handler each; they fail loudly) check who asks against the participant's facts
(the read model of identity's and consent's events), then run on the kernel's command path
(`bilet.application.Transactor`). They answer with the store position of their commit on the
published stream `attempt-<id>` (the read-your-writes token a portfolio reader waits for).
Queries fold the streams. Every read or write of answers and results is audited, by ids only.
A role with no access to a use case is refused before anything is looked up; a participant or
attempt outside the caller's scope is answered as unknown.

Grouped by idea: `attempts` (commands), `queries`, `catalogue` (the instruments).
"""

from bilet_diagnostics.application.attempts import AttemptCommands
from bilet_diagnostics.application.catalogue import InstrumentCatalogue
from bilet_diagnostics.application.queries import DiagnosticsQueries


class DiagnosticsService(AttemptCommands, DiagnosticsQueries, InstrumentCatalogue):
    """Every use case of diagnostics, over one store, key store, facts and catalogue."""
