"""Pseudonyms per purpose: stable within one, unrelated across two, gone with the key."""

from uuid import uuid4

import pytest

from bilet.analytics.pseudonyms import (
    InvalidPurpose,
    check_purpose,
    pseudonymiser_for,
    retire_purpose,
)
from bilet.crypto import InMemoryKeyStore, SubjectErased


async def test_one_purpose_gives_one_pseudonym_per_id_and_two_purposes_share_none() -> None:
    keystore = InMemoryKeyStore()
    research = await pseudonymiser_for(keystore, "research")
    again = await pseudonymiser_for(keystore, "research")
    monitoring = await pseudonymiser_for(keystore, "monitoring")
    ids = [uuid4() for _ in range(200)]
    assert [research(i) for i in ids] == [again(i) for i in ids]
    assert len({research(i) for i in ids}) == len(ids)
    assert not {research(i) for i in ids} & {monitoring(i) for i in ids}
    assert all(str(i).replace("-", "") not in research(i) for i in ids)
    assert research.key.hex() not in repr(research)


async def test_pinned_ids_and_ids_met_once_get_the_pseudonyms_any_id_gets() -> None:
    keystore = InMemoryKeyStore()
    research = await pseudonymiser_for(keystore, "research")
    fresh = await pseudonymiser_for(keystore, "research")
    ids = [uuid4() for _ in range(200)]
    pinned = research.pin(ids[:100])
    assert pinned == {i: fresh(i) for i in ids[:100]}
    assert research.of_unique(ids) == [fresh(i) for i in ids]
    assert [research(i) for i in ids] == [fresh(i) for i in ids]


async def test_an_id_given_as_text_gets_its_pseudonym_however_it_is_spelt() -> None:
    research = await pseudonymiser_for(InMemoryKeyStore(), "research")
    ids = [uuid4() for _ in range(50)]
    research.pin(ids[:10])
    for spelling in (str, lambda i: str(i).upper(), lambda i: i.hex, lambda i: f"{{{i}}}"):
        assert [research.of_text(spelling(i)) for i in ids] == [research(i) for i in ids]
    with pytest.raises(ValueError, match="base 16"):
        research.of_text("00000000-0000-0000-0000-00000000000g")


async def test_a_retired_purpose_can_never_pseudonymise_again() -> None:
    keystore = InMemoryKeyStore()
    await pseudonymiser_for(keystore, "research")
    assert await retire_purpose(keystore, "research")
    with pytest.raises(SubjectErased):
        await pseudonymiser_for(keystore, "research")


@pytest.mark.parametrize("name", ["", "Research", "1st", "a b", "../x", "x" * 64])
def test_a_purpose_is_a_short_lower_case_code(name: str) -> None:
    with pytest.raises(InvalidPurpose):
        check_purpose(name)
