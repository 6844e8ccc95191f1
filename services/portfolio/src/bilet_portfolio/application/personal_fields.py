"""The personal fields a portfolio shows, opened: the read model holds them only sealed (the ФИО,
mentors' comments), and they are opened here, per request, with the participant's key from the
suite's key store. A destroyed key reads as erased."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from bilet.crypto import FieldCipher, is_erased
from bilet.crypto.fields import ENVELOPE_TAG
from bilet_portfolio.domain.views import ParticipantRecord, PortfolioRecord

NAME_FIELD: Final = "full_name"
COMMENT_FIELD: Final = "comment"


@dataclass(frozen=True)
class DisplayName:
    """The ФИО as the pupil's school registered it; `erased` once the key is destroyed."""

    last_name: str | None = None
    first_name: str | None = None
    patronymic: str | None = None
    erased: bool = False


class PersonalFields:
    """Opens sealed fields with the participant's key. Whether the caller may see them, and the
    audit of it, are the queries' to decide (application/service.py)."""

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    async def name_erased(self, participant: ParticipantRecord) -> bool:
        """Whether the name would read as erased (the participant's key is gone)."""
        if participant.sealed_name is None:
            return False
        sealed = json.loads(participant.sealed_name)
        if isinstance(sealed, dict) and ENVELOPE_TAG in sealed:
            # A sealed name opens to ERASED exactly when the participant's key is gone: the key
            # cache says so without decrypting the name on every ETag check (ADR 0054).
            return not await self.cipher.has_key(participant.participant_id)
        return is_erased(sealed)

    async def of_portfolio(
        self, participant_id: str, sealed_name: str | None, record: PortfolioRecord
    ) -> tuple[DisplayName | None, dict[str, str | None]]:
        """The participant's name and the mentors' comments, by feedback id (None: erased)."""
        envelopes: dict[str, Any] = {}
        if sealed_name is not None:
            envelopes[NAME_FIELD] = json.loads(sealed_name)
        opened = await self.cipher.decrypt(participant_id, envelopes) if envelopes else {}
        name = _display_name(opened.get(NAME_FIELD)) if sealed_name is not None else None
        comments: dict[str, str | None] = {}
        for feedback in record.feedback:
            if feedback.sealed_comment is None:
                continue
            value = (
                await self.cipher.decrypt(
                    participant_id, {COMMENT_FIELD: json.loads(feedback.sealed_comment)}
                )
            )[COMMENT_FIELD]
            comments[feedback.feedback_id] = (
                None if is_erased(value) or not isinstance(value, str) else value
            )
        return name, comments

    async def names(self, participants: Sequence[ParticipantRecord]) -> dict[str, DisplayName]:
        """The names of those participants who have one, by participant id."""
        names: dict[str, DisplayName] = {}
        for participant in participants:
            if participant.sealed_name is None:
                continue
            opened = await self.cipher.decrypt(
                participant.participant_id, {NAME_FIELD: json.loads(participant.sealed_name)}
            )
            name = _display_name(opened[NAME_FIELD])
            if name is not None:
                names[participant.participant_id] = name
        return names


def _display_name(value: object) -> DisplayName | None:
    if is_erased(value):
        return DisplayName(erased=True)
    if not isinstance(value, dict):
        return None

    def text(key: str) -> str | None:
        item = value.get(key)
        return item if isinstance(item, str) else None

    return DisplayName(text("last_name"), text("first_name"), text("patronymic"))
