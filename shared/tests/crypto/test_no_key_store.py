"""`NoKeyStore`: the key store of a process started without keys refuses every use, loudly.

A cipher over it still handles what needs no key (events without personal fields, data without
envelopes), which is all the recommender's distributed API does (docs/adr/0046).
"""

from collections.abc import Awaitable, Callable

import pytest

from bilet.crypto import (
    FieldCipher,
    InMemoryKeyStore,
    KeysNotHeld,
    KeyStore,
    KeyStoreError,
    NoKeyStore,
)

HOLDER = "the test's API"

USES: dict[str, Callable[[KeyStore], Awaitable[object]]] = {
    "get_or_create": lambda store: store.get_or_create("participant-1"),
    "get_or_create_many": lambda store: store.get_or_create_many(["participant-1"]),
    "get": lambda store: store.get("participant-1"),
    "erase": lambda store: store.erase("participant-1"),
    "erasures_since": lambda store: store.erasures_since(None),
}


@pytest.mark.parametrize("use", USES.values(), ids=USES.keys())
async def test_every_use_is_refused_naming_the_process(
    use: Callable[[KeyStore], Awaitable[object]],
) -> None:
    with pytest.raises(KeysNotHeld, match=f"{HOLDER} holds no data keys") as refused:
        await use(NoKeyStore(HOLDER))
    # Callers that handle key-store failures handle this one too.
    assert isinstance(refused.value, KeyStoreError)


async def test_closing_it_succeeds_and_it_shows_whose_it_is() -> None:
    store = NoKeyStore(HOLDER)
    await store.close()
    assert repr(store) == f"NoKeyStore({HOLDER!r})"


async def test_a_cipher_over_it_passes_data_without_personal_fields_and_refuses_the_rest() -> None:
    cipher = FieldCipher(NoKeyStore(HOLDER))
    public = {"title": "Кружок робототехники", "seats": 20}
    assert await cipher.encrypt("participant-1", public, ()) == public
    assert await cipher.decrypt("participant-1", public) == public
    with pytest.raises(KeysNotHeld):
        await cipher.encrypt("participant-1", {"name": "Дарья"}, ["name"])
    # An envelope another process sealed cannot be opened here.
    sealed = await FieldCipher(InMemoryKeyStore()).encrypt(
        "participant-1", {"needs": ["step_free_access"]}, ["needs"]
    )
    with pytest.raises(KeysNotHeld):
        await cipher.decrypt("participant-1", sealed)
