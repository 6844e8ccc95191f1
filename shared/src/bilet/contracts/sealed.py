"""Personal fields of published events: they travel only sealed.

A sealed field holds the `FieldCipher` envelope `{"$enc": "aesgcm-v1", "kid", "n", "ct"}`,
encrypted with a data key of the event's subject (a participant) and bound to the field's
name; once that key is destroyed, it reads as `ERASED` (`{"$erased": true}`), which is also a
valid value of the field, so an event rewritten after erasure stays valid. Only top-level fields
are sealed: that is what `FieldCipher` encrypts and decrypts.

A participant has two keys (ARCHITECTURE §8, docs/adr/0017): the participant key seals their
personal data, and the health key (subject `health:<participant id>`) seals the special category
of health data (ОВЗ, accessibility needs), so that withdrawing the consent to process health
data destroys it alone. A field declares its key with `personal(..., scope=KeyScope.HEALTH)`;
the JSON Schema says so under `x-bilet-key`.

The health key has generations (docs/adr/0026): once a withdrawal destroyed it, a new consent
covering health data lets the school state it again under a new key (`health:<id>:<n>`), while
what the destroyed one sealed stays unreadable for ever. An event that can seal health fields under
a later generation names it in a field declared with `key_generation_field(KeyScope.HEALTH, ...)`
(`x-bilet-key-generation` in the JSON Schema); an event without one is of the first generation,
whose subject is the one every earlier event was sealed with (`health:<id>`).
"""

import functools
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import ConfigDict, Field
from pydantic.fields import FieldInfo

from bilet.contracts.base import ContractModel, DomainEvent
from bilet.crypto.fields import (
    ENVELOPE_TAG,
    ENVELOPE_VERSION,
    ERASED,
    ERASED_TAG,
    FieldCipher,
    ToOpen,
    ToSeal,
)

# The JSON Schema keyword that marks a sealed field; its value says what the plaintext is.
SEALED_KEYWORD: Final = "x-bilet-sealed"
# The JSON Schema keyword that names the key of a field not sealed with the participant key.
KEY_KEYWORD: Final = "x-bilet-key"
# The JSON Schema keyword of the field that names the generation of a scope's key (its value).
GENERATION_KEYWORD: Final = "x-bilet-key-generation"
# The first generation of a key: its subject has no generation suffix, as before generations.
FIRST_GENERATION: Final = 1


class KeyScope(StrEnum):
    """Which of a participant's keys seals a field; each can be destroyed on its own."""

    PARTICIPANT = "participant"  # personal data: ФИО, birth date, СНИЛС, guardian's details …
    HEALTH = "health"  # the special category of health data (152-FZ art. 10)


def key_subject(subject: str, scope: KeyScope, generation: int = FIRST_GENERATION) -> str:
    """The key-store subject of `scope`'s key of a participant (`subject`: their id), of
    `generation` (the first has no suffix: `health:<id>`, later ones `health:<id>:<n>`)."""
    if generation < FIRST_GENERATION:
        raise ValueError(f"key generations start at {FIRST_GENERATION}, not {generation}")
    if scope is KeyScope.PARTICIPANT and generation != FIRST_GENERATION:
        raise ValueError("the participant key has one generation: its erasure is for good")
    base = subject if scope is KeyScope.PARTICIPANT else f"{scope.value}:{subject}"
    return base if generation == FIRST_GENERATION else f"{base}:{generation}"


def health_key_subject(participant_id: object, generation: int = FIRST_GENERATION) -> str:
    """The key-store subject of a participant's health key of `generation`: destroying it
    destroys only the health data it sealed, destroying every generation and the participant
    key (an erasure) destroys everything sealed."""
    return key_subject(str(participant_id), KeyScope.HEALTH, generation)


def health_key_subjects(participant_id: object, up_to: int) -> tuple[str, ...]:
    """The subjects of every generation of a participant's health key, the first to `up_to`."""
    return tuple(health_key_subject(participant_id, n) for n in range(FIRST_GENERATION, up_to + 1))


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


def personal(
    description: str, plaintext: str, *, scope: KeyScope = KeyScope.PARTICIPANT, **field: Any
) -> Any:
    """Declare a sealed field: `description` says what it is, `plaintext` what JSON value the
    envelope holds, `scope` whose key seals it (all end up in the JSON Schema)."""
    extra: dict[str, Any] = {SEALED_KEYWORD: plaintext}
    if scope is not KeyScope.PARTICIPANT:
        extra[KEY_KEYWORD] = scope.value
    return Field(description=description, json_schema_extra=extra, **field)


def key_generation_field(scope: KeyScope, description: str, **field: Any) -> Any:
    """Declare the field that names the generation of `scope`'s key that seals the event's
    fields of that scope (an int from `FIRST_GENERATION`; null or absent: the first)."""
    if scope is KeyScope.PARTICIPANT:
        raise ValueError("the participant key has one generation")
    return Field(
        description=description,
        ge=FIRST_GENERATION,
        json_schema_extra={GENERATION_KEYWORD: scope.value},
        **field,
    )


@functools.cache
def generation_fields(event_class: type[DomainEvent]) -> dict[KeyScope, str]:
    """The field naming each scope's key generation, for the scopes an event declares one."""
    out: dict[KeyScope, str] = {}
    for name, info in event_class.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, Mapping) and GENERATION_KEYWORD in extra:
            out[KeyScope(str(extra[GENERATION_KEYWORD]))] = name
    return out


def key_generations(
    event_class: type[DomainEvent], values: Mapping[str, object]
) -> dict[KeyScope, int]:
    """The generation of each scope's key sealing an event of `event_class` whose clear fields
    are `values` (a scope not named there: the first generation)."""
    out: dict[KeyScope, int] = {}
    for scope, name in generation_fields(event_class).items():
        generation = values.get(name)
        if isinstance(generation, int):
            out[scope] = generation
        elif generation is not None:
            raise TypeError(f"{event_class.__name__}.{name} is a key generation: an int")
    return out


def _is_sealed(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, Mapping) and SEALED_KEYWORD in extra


def _scope_of(info: FieldInfo) -> KeyScope:
    extra = info.json_schema_extra
    assert isinstance(extra, Mapping)
    return KeyScope(str(extra.get(KEY_KEYWORD, KeyScope.PARTICIPANT.value)))


def sealed_fields(event_class: type[DomainEvent]) -> tuple[str, ...]:
    """The names of an event's personal (sealed) fields, in declaration order."""
    return tuple(name for name, info in event_class.model_fields.items() if _is_sealed(info))


@functools.cache
def sealed_scopes(event_class: type[DomainEvent]) -> dict[str, KeyScope]:
    """Each sealed field of an event, with the scope of the key that seals it."""
    return {
        name: _scope_of(info) for name, info in event_class.model_fields.items() if _is_sealed(info)
    }


class Personal(NamedTuple):
    """One event's personal values to seal (`seal_many`), with what chooses their keys: `scopes`
    by field name (the participant key where none is named) and `generations` by scope (the
    first where none is named)."""

    subject: str
    values: Mapping[str, object]
    scopes: Mapping[str, KeyScope] | None = None
    generations: Mapping[KeyScope, int] | None = None


async def seal(
    cipher: FieldCipher,
    subject: str,
    values: Mapping[str, object],
    scopes: Mapping[str, KeyScope] | None = None,
    generations: Mapping[KeyScope, int] | None = None,
) -> dict[str, SealedValue]:
    """Encrypt each value for `subject` with the key of its scope (`scopes`, by field name: the
    participant key where none is named) of that scope's generation (`generations`: the first
    where none is named), each bound to its field name; pass the result as the event's keyword
    arguments. Values are JSON values (`date.isoformat()`, not a `date`)."""
    return (await seal_many(cipher, [Personal(subject, values, scopes, generations)]))[0]


async def seal_many(cipher: FieldCipher, many: Sequence[Personal]) -> list[dict[str, SealedValue]]:
    """What `seal` gives for each of `many`, in order, from one `FieldCipher.encrypt_many` call:
    one erasure check and one key lookup per key subject for a whole commit (a sheet's answers)
    instead of one per event."""
    records: list[ToSeal] = []
    counts: list[int] = []  # how many of `records` (one per key) each of `many` has
    for personal in many:
        by_scope: dict[KeyScope, dict[str, object]] = {}
        scopes = personal.scopes or {}
        for name, value in personal.values.items():
            by_scope.setdefault(scopes.get(name, KeyScope.PARTICIPANT), {})[name] = value
        for scope, group in by_scope.items():
            generation = (personal.generations or {}).get(scope, FIRST_GENERATION)
            records.append((key_subject(personal.subject, scope, generation), group, list(group)))
        counts.append(len(by_scope))
    encrypted = await cipher.encrypt_many(records)
    out: list[dict[str, SealedValue]] = []
    at = 0
    for personal, count in zip(many, counts, strict=True):
        merged: dict[str, object] = {}  # each name is in one scope's group only
        for data in encrypted[at : at + count]:
            merged.update(data)
        out.append({name: SealedValue.model_validate(merged[name]) for name in personal.values})
        at += count
    return out


async def unseal(
    cipher: FieldCipher, event: DomainEvent, *, health: bool = False
) -> dict[str, object]:
    """The plaintext of an event's sealed fields that are set: a JSON value each, or `ERASED`
    (its key destroyed). Health fields are opened only when asked for (`health=True`), by a
    caller that checked a consent covers them and the role needs them; otherwise left out.

    Only for services entitled to personal data (identity, consent, portfolio display); every
    read is an access to personal data and belongs in the audit log.
    """
    return (await unseal_many(cipher, [event], health=health))[0]


@functools.cache
def _to_open(event_class: type[DomainEvent], health: bool) -> tuple[tuple[str, KeyScope], ...]:
    """The sealed fields `unseal` opens in an event of `event_class`, with their scopes."""
    return tuple(
        (name, scope)
        for name, scope in sealed_scopes(event_class).items()
        if health or scope is not KeyScope.HEALTH
    )


async def unseal_many(
    cipher: FieldCipher, events: Sequence[DomainEvent], *, health: bool = False
) -> list[dict[str, object]]:
    """What `unseal` gives for each of `events`, in order, from one `FieldCipher.decrypt_many`
    call: one erasure check and one key lookup per key subject (a sheet's answers, opened to
    score them, are dozens of events of one participant)."""
    records: list[ToOpen] = []
    outs: list[dict[str, object]] = []
    owners: list[dict[str, object]] = []  # the out each record's plaintext goes to
    for event in events:
        event_class = type(event)
        envelopes: dict[KeyScope, dict[str, object]] = {}
        out: dict[str, object] = {}
        for name, scope in _to_open(event_class, health):
            value = getattr(event, name)
            if isinstance(value, SealedValue):
                envelopes.setdefault(scope, {})[name] = value.envelope()
            elif isinstance(value, ErasedValue):
                out[name] = ERASED
        if envelopes:
            named = generation_fields(event_class).values()
            generations = key_generations(
                event_class, {name: getattr(event, name) for name in named}
            )
            for scope, group in envelopes.items():
                generation = generations.get(scope, FIRST_GENERATION)
                records.append((key_subject(event.subject, scope, generation), group))
                owners.append(out)
        outs.append(out)
    for out, opened in zip(owners, await cipher.decrypt_many(records), strict=True):
        out.update(opened)
    return outs
