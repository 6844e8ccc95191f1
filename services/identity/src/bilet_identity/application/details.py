"""A participant's personal data in plaintext: the sealed fields of their events, opened with their
keys and laid over each other (registration, then every correction). Only for entitled callers,
and every call is a personal-data access the caller must audit. Health data (its own key, docs/
adr/0017) is opened only when asked for; once its key is destroyed it is unknown (None), while
the rest stays readable."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bilet.contracts import DomainEvent, unseal_many
from bilet.contracts.catalogue.identity import ParticipantDetailsCorrected, ParticipantRegistered
from bilet.contracts.vocabulary import AccessibilityNeed
from bilet.crypto import FieldCipher, is_erased
from bilet_identity.domain.internal import ProfileRecorded
from bilet_identity.domain.people import (
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
)
from bilet_identity.domain.snils import Snils

PERSONAL_FIELDS = ("full_name", "birth_date", "snils")
HEALTH_FIELDS = ("health_limitations", "accessibility_needs")


@dataclass(frozen=True)
class Personal:
    """The plaintext in force; `erased` when the participant's key was destroyed."""

    details: PersonalDetails | None
    citizenship: str | None
    home_schooled: bool | None

    @property
    def erased(self) -> bool:
        return self.details is None


def _health(value: Any) -> HealthLimitations | None:
    if value is None or is_erased(value):
        return None
    return HealthLimitations(
        bool(value["has_limitations"]),
        None if value.get("kind") is None else HealthLimitationKind(value["kind"]),
    )


def _needs(value: Any) -> tuple[AccessibilityNeed, ...] | None:
    if value is None or is_erased(value):
        return None
    return tuple(AccessibilityNeed(need) for need in value)


async def personal_of(
    cipher: FieldCipher,
    participant_events: Iterable[DomainEvent],
    profile_events: Iterable[DomainEvent] = (),
    *,
    health: bool = False,
) -> Personal:
    """The plaintext in force; health data (`health=True`) only for a caller entitled to it."""
    values: dict[str, Any] = {}
    erased = False
    # Each stream's events opened in one call: one erasure check and key lookup, not one per
    # event (a participant corrected often has many).
    stated = [
        event
        for event in participant_events
        if isinstance(event, ParticipantRegistered | ParticipantDetailsCorrected)
    ]
    for opened in await unseal_many(cipher, stated, health=health):
        # Only the participant key's destruction is an erasure; the health key's is not.
        erased = erased or any(
            is_erased(v) for name, v in opened.items() if name not in HEALTH_FIELDS
        )
        values.update(opened)
    citizenship: str | None = None
    home_schooled: bool | None = None
    recorded = [event for event in profile_events if isinstance(event, ProfileRecorded)]
    for opened in await unseal_many(cipher, recorded) if recorded else ():
        if not any(is_erased(v) for v in opened.values()):
            citizenship = str(opened["citizenship"])
            home_schooled = bool(opened["home_schooled"])
    if erased or not all(name in values for name in PERSONAL_FIELDS):
        return Personal(None, None, None)
    name = values["full_name"]
    details = PersonalDetails(
        full_name=FullName(name["last_name"], name["first_name"], name.get("patronymic")),
        birth_date=date.fromisoformat(values["birth_date"]),
        snils=Snils.parse(values["snils"]),
        health=_health(values.get("health_limitations")),
        accessibility_needs=_needs(values.get("accessibility_needs")),
    )
    return Personal(details, citizenship, home_schooled)
