"""Keyed hashes stand for a СНИЛС, or a name with a birth date: stable, secret, never the value."""

from datetime import date

import pytest

from bilet_identity.application.pseudonyms import Pseudonymiser
from bilet_identity.domain.people import FullName
from bilet_identity.domain.snils import Snils

SNILS = Snils.parse("112-233-445 95")
NAME = FullName("Соколова", "Дарья", "Андреевна")


def test_keys_are_stable_under_one_secret_and_differ_under_another() -> None:
    one, same, other = (Pseudonymiser(s) for s in (b"1" * 32, b"1" * 32, b"2" * 32))
    assert one.reservation_key(SNILS) == same.reservation_key(SNILS)
    assert one.reservation_key(SNILS) != other.reservation_key(SNILS)
    assert len(one.reservation_key(SNILS)) == 64


def test_the_purposes_never_collide() -> None:
    keys = Pseudonymiser(b"k" * 32)
    person = keys.person_key(NAME, date(2007, 4, 12))
    assert person != keys.reservation_key(SNILS)
    assert person == keys.person_key(FullName("соколова", "ДАРЬЯ", "Андреевна"), date(2007, 4, 12))


def test_a_short_secret_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Pseudonymiser(b"short")
    assert "k" * 32 not in repr(Pseudonymiser(b"k" * 32))


def test_keys_are_the_ones_already_stored() -> None:
    """Reservations and surname indexes in existing stores were written under these exact
    values: a faster way of computing them must give the same (HMAC-SHA256 of label, NUL,
    value)."""
    keys = Pseudonymiser(b"k" * 32)
    assert keys.reservation_key(SNILS) == (
        "7c2c28bd3d580e77a028260517730a520d9af5d4e8fc85d1f90f119d5d509c44"
    )
    assert keys.surname_search_key("Сок") == (
        "fcfb57d67159025375c9f068dd038e06076f4af89e10359bffd7688662cb82b4"
    )
