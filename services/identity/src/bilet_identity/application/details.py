"""A participant's personal data in plaintext: the sealed fields of their events, opened with their
key and laid over each other (registration, then every correction). Only for entitled callers,
and every call is a personal-data access the caller must audit."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bilet.contracts import DomainEvent, unseal
from bilet.contracts.catalogue.identity import ParticipantDetailsCorrected, ParticipantRegistered
from bilet.crypto import FieldCipher, is_erased
from bilet_identity.domain.internal import ProfileRecorded
from bilet_identity.domain.people import (
    FullName,
    HealthLimitationKind,
    HealthLimitations,
    PersonalDetails,
)
from bilet_identity.domain.snils import Snils

PERSONAL_FIELDS = ("full_name", "birth_date", "snils", "health_limitations")


@dataclass(frozen=True)
class Personal:
    """The plaintext in force; `erased` when the participant's key was destroyed."""

    details: PersonalDetails | None
    citizenship: str | None
    home_schooled: bool | None

    @property
    def erased(self) -> bool:
        return self.details is None


async def personal_of(
    cipher: FieldCipher,
    participant_events: Iterable[DomainEvent],
    profile_events: Iterable[DomainEvent] = (),
) -> Personal:
    values: dict[str, Any] = {}
    erased = False
    for event in participant_events:
        if isinstance(event, ParticipantRegistered | ParticipantDetailsCorrected):
            opened = await unseal(cipher, event)
            erased = erased or any(is_erased(v) for v in opened.values())
            values.update(opened)
    citizenship: str | None = None
    home_schooled: bool | None = None
    for event in profile_events:
        if isinstance(event, ProfileRecorded):
            opened = await unseal(cipher, event)
            if not any(is_erased(v) for v in opened.values()):
                citizenship = str(opened["citizenship"])
                home_schooled = bool(opened["home_schooled"])
    if erased or not all(name in values for name in PERSONAL_FIELDS):
        return Personal(None, None, None)
    name = values["full_name"]
    health = values["health_limitations"]
    details = PersonalDetails(
        full_name=FullName(name["last_name"], name["first_name"], name.get("patronymic")),
        birth_date=date.fromisoformat(values["birth_date"]),
        snils=Snils.parse(values["snils"]),
        health=HealthLimitations(
            bool(health["has_limitations"]),
            None if health.get("kind") is None else HealthLimitationKind(health["kind"]),
        ),
    )
    return Personal(details, citizenship, home_schooled)
