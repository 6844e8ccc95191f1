"""Personal fields of published events: they travel only sealed.

A sealed field holds the `FieldCipher` envelope `{"$enc": "aesgcm-v1", "kid", "n", "ct"}`,
encrypted with the data key of the event's subject (a participant) and bound to the field's
name; once the subject is erased, it reads as `ERASED` (`{"$erased": true}`), which is also a
valid value of the field, so an event rewritten after erasure stays valid. Only top-level fields
are sealed: that is what `FieldCipher` encrypts and decrypts.
"""

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.crypto.fields import ENVELOPE_TAG, ENVELOPE_VERSION, ERASED, ERASED_TAG, FieldCipher

# The JSON Schema keyword that marks a sealed field; its value says what the plaintext is.
SEALED_KEYWORD: Final = "x-bilet-sealed"

_BASE64: Final = r"^[A-Za-z0-9+/]+={0,2}$"


class SealedValue(ContractModel):
    """A personal value encrypted with its subject's data key (AES-256-GCM, `FieldCipher`)."""

    model_config = ConfigDict(
        serialize_by_alias=True, validate_by_alias=True, validate_by_name=True
    )

    enc: Literal["aesgcm-v1"] = Field(alias=ENVELOPE_TAG, description="Envelope version.")
    kid: str = Field(min_length=1, max_length=64, description="The data key's id.")
    n: str = Field(pattern=_BASE64, min_length=16, max_length=16, description="Nonce, base64.")
    ct: str = Field(pattern=_BASE64, min_length=24, description="Ciphertext and tag, base64.")

    def envelope(self) -> dict[str, str]:
        """The envelope as `FieldCipher.decrypt` reads it."""
        return {ENVELOPE_TAG: self.enc, "kid": self.kid, "n": self.n, "ct": self.ct}


class ErasedValue(ContractModel):
    """A personal value whose subject was erased: its key is destroyed, the value is gone."""

    model_config = ConfigDict(
        serialize_by_alias=True, validate_by_alias=True, validate_by_name=True
    )

    erased: Literal[True] = Field(alias=ERASED_TAG)


assert ENVELOPE_VERSION == "aesgcm-v1", "a new envelope version needs a new SealedValue variant"

# A personal field's type. Which of the two it holds never changes what a consumer may rely on:
# only the services entitled to personal data open it, and they must expect ERASED.
Sealed = Annotated[SealedValue | ErasedValue, Field(union_mode="left_to_right")]

ERASED_VALUE: Final = ErasedValue(erased=True)


def personal(description: str, plaintext: str, **field: Any) -> Any:
    """Declare a sealed field: `description` says what it is, `plaintext` what JSON value the
    envelope holds (both end up in the JSON Schema)."""
    return Field(description=description, json_schema_extra={SEALED_KEYWORD: plaintext}, **field)


def _is_sealed(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, Mapping) and SEALED_KEYWORD in extra


def sealed_fields(event_class: type[DomainEvent]) -> tuple[str, ...]:
    """The names of an event's personal (sealed) fields, in declaration order."""
    return tuple(name for name, info in event_class.model_fields.items() if _is_sealed(info))


async def seal(
    cipher: FieldCipher, subject: str, values: Mapping[str, object]
) -> dict[str, SealedValue]:
    """Encrypt each value for `subject`, each bound to its field name; pass the result as the
    event's keyword arguments. Values are JSON values (`date.isoformat()`, not a `date`)."""
    encrypted = await cipher.encrypt(subject, values, list(values))
    return {name: SealedValue.model_validate(encrypted[name]) for name in values}


async def unseal(cipher: FieldCipher, event: DomainEvent) -> dict[str, object]:
    """The plaintext of an event's sealed fields that are set: a JSON value each, or `ERASED`.

    Only for services entitled to personal data (identity, consent, portfolio display); every
    read is an access to personal data and belongs in the audit log.
    """
    envelopes: dict[str, object] = {}
    out: dict[str, object] = {}
    for name in sealed_fields(type(event)):
        value = getattr(event, name)
        if isinstance(value, SealedValue):
            envelopes[name] = value.envelope()
        elif isinstance(value, ErasedValue):
            out[name] = ERASED
    out.update(await cipher.decrypt(event.subject, envelopes))
    return out
