"""The consent gate of the portfolio (DOMAIN.md, 152-FZ): without a verified, unexpired,
unwithdrawn consent that covers the portfolio, nobody but the school sees it, and the school sees
only the consent's state.

The read model keeps each consent of a participant as the consent stream told it (`ConsentRecord`,
in stream order) and sums them up for the participant (`summarise`) the way the consent service
labels a participant's consent, with the same words (`pending`, not "submitted"). Whether a
verified consent has expired depends on the day it is read, so that is decided here, at read time.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, assert_never


class ConsentState(StrEnum):
    """The state of a participant's consent, as a reader sees it on a given day."""

    NONE = "none"  # nothing submitted yet
    PENDING = "pending"  # uploaded, waiting for verification
    VERIFIED = "verified"  # in force
    REJECTED = "rejected"  # the school must upload a corrected one
    WITHDRAWN = "withdrawn"  # processing stopped; erasure scheduled
    EXPIRED = "expired"  # verified, but its validity ended


class ConsentStatus(StrEnum):
    """One consent's status, as the consent service's decider has it."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a later consent was verified
    WITHDRAWN = "withdrawn"


# What the projection stores: every state but EXPIRED, which only a reading day makes.
STORED_STATES: Final = frozenset(
    {
        ConsentState.NONE,
        ConsentState.PENDING,
        ConsentState.VERIFIED,
        ConsentState.REJECTED,
        ConsentState.WITHDRAWN,
    }
)
PORTFOLIO_PURPOSE: Final = "portfolio"


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One consent of a participant: what its events said so far."""

    consent_id: str
    status: ConsentStatus
    purposes: tuple[str, ...] = ()  # what it allows now (purposes withdrawn are gone)
    valid_until: date | None = None
    rejection_reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """A participant's consent as one state, and the consent that state is about."""

    state: ConsentState
    shown: ConsentRecord | None = None
    # The newest consent waiting for verification after the one shown (it replaces the one in
    # force once verified).
    pending_id: str | None = None


def summarise(consents: Sequence[ConsentRecord], *, withdrawn: bool) -> ConsentSummary:
    """The participant's state from their consents in stream order, labelled as the consent
    service labels it. `withdrawn`: a consent was withdrawn as a whole (the destruction of the
    participant's data is scheduled): whatever consent it named, nothing is in force any more."""
    if withdrawn:
        shown = next((c for c in reversed(consents) if c.status is ConsentStatus.WITHDRAWN), None)
        return ConsentSummary(ConsentState.WITHDRAWN, shown)
    index = next(
        (
            i
            for i in range(len(consents) - 1, -1, -1)
            if consents[i].status is ConsentStatus.VERIFIED
        ),
        None,
    )
    if index is not None:
        later = [c for c in consents[index + 1 :] if c.status is ConsentStatus.PENDING]
        return ConsentSummary(
            ConsentState.VERIFIED, consents[index], later[-1].consent_id if later else None
        )
    if not consents:
        return ConsentSummary(ConsentState.NONE)
    latest = consents[-1]
    return ConsentSummary(_unverified_state(latest.status), latest)


def _unverified_state(latest: ConsentStatus) -> ConsentState:
    """The participant's state when no consent of theirs is verified: the latest one's."""
    match latest:
        case ConsentStatus.PENDING:
            return ConsentState.PENDING
        case ConsentStatus.REJECTED:
            return ConsentState.REJECTED
        case ConsentStatus.WITHDRAWN:
            return ConsentState.WITHDRAWN
        case ConsentStatus.SUPERSEDED | ConsentStatus.VERIFIED:
            # Verified is answered before this; superseded by one that no longer stands: none.
            return ConsentState.NONE
        case _:
            assert_never(latest)


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
