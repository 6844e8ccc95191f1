"""Unsealed drafts: plaintext only in the fields the published event seals, sealed exactly once."""

from uuid import UUID

import pytest

from bilet.contracts import SealedValue
from bilet.contracts.catalogue.identity import CorrectionReason, ParticipantDetailsCorrected
from bilet.contracts.drafts import Unsealed

PID = UUID("6c1c1c1c-0000-4000-8000-000000000001")
SEALED = SealedValue.model_validate(
    {"$enc": "aesgcm-v1", "kid": "k", "n": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAAAA"}
)


def test_only_sealed_fields_may_hold_plaintext() -> None:
    with pytest.raises(ValueError, match="not sealed"):
        Unsealed(
            ParticipantDetailsCorrected,
            {"participant_id": PID, "reason": "typing_error"},
            {"grade": 8},
        )
    with pytest.raises(ValueError, match="both"):
        Unsealed(
            ParticipantDetailsCorrected,
            {"participant_id": PID, "reason": "typing_error", "snils": None},
            {"snils": "112-233-445 95"},
        )


def test_sealing_fills_exactly_the_personal_fields() -> None:
    draft = Unsealed(
        ParticipantDetailsCorrected,
        {"participant_id": PID, "reason": CorrectionReason.TYPING_ERROR},
        {"snils": "112-233-445 95"},
    )
    with pytest.raises(ValueError, match="exactly"):
        draft.sealed_with({})
    event = draft.sealed_with({"snils": SEALED})
    assert event.snils == SEALED
    assert event.stream_id == draft.stream_id == f"participant-{PID}"


def test_the_plaintext_never_shows_in_a_repr() -> None:
    draft = Unsealed(
        ParticipantDetailsCorrected,
        {"participant_id": PID, "reason": CorrectionReason.TYPING_ERROR},
        {"snils": "112-233-445 95"},
    )
    assert "112-233" not in repr(draft)
