"""Keyed hashes stand for a СНИЛС, or a name with a birth date: stable, secret, never the value."""

import hmac
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


def test_every_purpose_is_hmac_sha256_of_its_label_a_nul_and_the_value() -> None:
    """Whatever way the digests are computed (docs/adr/0099), each is the documented HMAC,
    again and again (a value hashed never changes the next)."""
    secret = b"k" * 32
    keys = Pseudonymiser(secret)

    def expected(label: str, value: str) -> str:
        return hmac.digest(secret, f"{label}\x00{value}".encode(), "sha256").hex()

    for _ in range(2):
        assert keys.reservation_key(SNILS) == expected("bilet.identity.snils.v1", SNILS.digits)
        assert keys.binding_code_key("ABCD-EFGH") == expected(
            "bilet.identity.binding-code.v1", "ABCD-EFGH"
        )
        assert keys.account_key("idp|42") == expected("bilet.identity.account.v1", "idp|42")
        assert keys.surname_prefix_keys("Ан") == (
            expected("bilet.identity.surname-prefix.v1", "а"),
            expected("bilet.identity.surname-prefix.v1", "ан"),
        )
