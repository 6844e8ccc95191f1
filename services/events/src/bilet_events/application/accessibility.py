"""A pupil's accessibility needs as a use case may act on them: opened with their health key only
while a consent in force covers `health_data` (issue #14, ADR 0031 decision 2), and sealed again
for the seat that carries them (`SeatBooked.accessibility_needs`, ADR 0027).

Without the consent — or when the key of the needs' generation is gone — the service acts as if
the pupil needed nothing and says so (`Needs.checked` False): the pupil is offered and booked
only as one who needs no adaptation, and the seat carries no summary.
"""

from dataclasses import dataclass
from typing import Final

from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.sealed import KeyScope, Sealed, SealedValue, health_key_subject, seal
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.crypto import FieldCipher
from bilet.crypto.fields import is_erased
from bilet_events.application.facts import Pupil
from bilet_events.domain.career_event import Summary

# The field name both identity's events and `SeatBooked` seal the needs under (it is bound into
# the envelope: a value opens only under its own field's name).
FIELD: Final = "accessibility_needs"


@dataclass(frozen=True)
class Needs:
    """What the service may act on: `needs` (empty: none), whether they could be considered at
    all (`checked`), and the health key generation that sealed them."""

    needs: frozenset[AccessibilityNeed]
    checked: bool
    key_generation: int | None = None

    @property
    def may_seal(self) -> bool:
        """A seat carries a summary exactly when a consent covers health data and career
        events (checked by the booking before) and needs exist."""
        return self.checked and bool(self.needs) and self.key_generation is not None


UNCHECKED: Final = Needs(frozenset(), checked=False)
NONE_STATED: Final = Needs(frozenset(), checked=True)


async def open_needs(cipher: FieldCipher, pupil: Pupil) -> Needs:
    """The pupil's needs, opened when a consent in force covers health data; `UNCHECKED`
    without it or once the key is gone, `NONE_STATED` when identity never stated any."""
    if not pupil.consents_to(Purpose.HEALTH_DATA):
        return UNCHECKED
    sealed = pupil.accessibility_needs
    if sealed is None:
        return NONE_STATED
    return await _opened(cipher, pupil.participant_id, sealed.value, sealed.key_generation)


async def summary_for(cipher: FieldCipher, pupil: Pupil, needs: Needs) -> Summary | None:
    """The needs sealed again with the pupil's health key of their generation, for the seat;
    None when the seat carries none (`Needs.may_seal`)."""
    if not needs.may_seal or needs.key_generation is None:
        return None
    sealed = await seal(
        cipher,
        str(pupil.participant_id),
        {FIELD: sorted(need.value for need in needs.needs)},
        {FIELD: KeyScope.HEALTH},
        {KeyScope.HEALTH: needs.key_generation},
    )
    return Summary(sealed[FIELD], needs.key_generation)


async def open_summary(cipher: FieldCipher, summary: Summary, participant_id: object) -> Needs:
    """A seat's summary opened (the roster's counts); `UNCHECKED` once the key is gone."""
    return await _opened(cipher, participant_id, summary.sealed, summary.key_generation)


async def _opened(
    cipher: FieldCipher, participant_id: object, sealed: Sealed, key_generation: int
) -> Needs:
    if not isinstance(sealed, SealedValue):
        return UNCHECKED  # erased at the source
    subject = health_key_subject(participant_id, key_generation)
    opened = (await cipher.decrypt(subject, {FIELD: sealed.envelope()}))[FIELD]
    if is_erased(opened):
        return UNCHECKED  # the key is destroyed (a withdrawal the feed has not brought yet)
    if not isinstance(opened, list):
        raise TypeError("accessibility needs are sealed as a list")
    needs = frozenset(AccessibilityNeed(str(need)) for need in opened)
    return Needs(needs, checked=True, key_generation=key_generation)
