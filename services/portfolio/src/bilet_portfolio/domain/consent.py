"""The consent gate of the portfolio (DOMAIN.md, 152-FZ): without a verified, unexpired,
unwithdrawn consent that covers the portfolio, nobody but the school sees it, and the school sees
only the consent's state.

The read model stores the consent facts as the stream told them; whether a verified consent has
expired depends on the day it is read, so that is decided here, at read time.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final


class ConsentState(StrEnum):
    """The state of a participant's consent, as a reader sees it on a given day."""

    NONE = "none"  # nothing submitted yet
    SUBMITTED = "submitted"  # uploaded, waiting for verification
    VERIFIED = "verified"  # in force
    REJECTED = "rejected"  # the school must upload a corrected one
    WITHDRAWN = "withdrawn"  # processing stopped; erasure scheduled
    EXPIRED = "expired"  # verified, but its validity ended


# What the projection stores: every state but EXPIRED, which only a reading day makes.
STORED_STATES: Final = frozenset(
    {
        ConsentState.NONE,
        ConsentState.SUBMITTED,
        ConsentState.VERIFIED,
        ConsentState.REJECTED,
        ConsentState.WITHDRAWN,
    }
)
PORTFOLIO_PURPOSE: Final = "portfolio"


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """A participant's consent as the read model holds it."""

    state: ConsentState
    purposes: tuple[str, ...] = ()
    valid_until: date | None = None
    rejection_reasons: tuple[str, ...] = ()
    erase_by: date | None = None
    # A newer consent submitted while this one is in force (it replaces it once verified).
    pending: bool = False

    def state_on(self, today: date) -> ConsentState:
        if (
            self.state is ConsentState.VERIFIED
            and self.valid_until is not None
            and self.valid_until < today
        ):
            return ConsentState.EXPIRED
        return self.state

    def opens_portfolio(self, today: date) -> bool:
        """Whether the portfolio may be shown at all (to anyone but the school's bare view)."""
        return self.state_on(today) is ConsentState.VERIFIED and PORTFOLIO_PURPOSE in self.purposes
