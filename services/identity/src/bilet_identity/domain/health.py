"""Which generation of a participant's health key seals the health data a correction states
(docs/adr/0026). A withdrawal of the consent to process health data destroys the generation in
force (the consent service does, at once); the data it sealed is gone for good. The school may
state health data again only once a consent covers it again, and then under a new generation:
the one the consent service will destroy at the next withdrawal.
"""

from dataclasses import dataclass
from typing import Final

from bilet_identity.domain.errors import HealthDataWithdrawn

# The sealed fields of health data (the health key's).
HEALTH_FIELDS: Final = frozenset({"health_limitations", "accessibility_needs"})


@dataclass(frozen=True, slots=True)
class HealthConsent:
    """What identity's read model of the consent service says of health data (docs/adr/0019):
    whether a verified consent in force covers `health_data`, and the generation of the health
    key the consent service destroys at the next withdrawal of it (one more than the
    withdrawals of `health_data` so far)."""

    covers: bool
    generation: int


def health_generation(in_force: int, destroyed: bool, consent: HealthConsent | None) -> int:
    """The generation that seals newly stated health data: `in_force` while its key lives;
    after its destruction a newer one, only under a consent that covers health data again. A
    read model that has not yet seen the withdrawal that destroyed `in_force` names no newer
    generation: nothing is recorded then, and the caller may ask again."""
    if not destroyed:
        return in_force
    if consent is None or not consent.covers or consent.generation <= in_force:
        raise HealthDataWithdrawn()
    return consent.generation
