"""The services' error base: a refusal carries its stable code, its message (given, or the fixed
text of its class) and its details."""

import pytest

from bilet.errors import DomainError


class _Closed(DomainError):
    code = "closed"
    text = "It is closed."


class _Late(DomainError):
    code = "late"


def test_a_refusal_with_a_fixed_text_says_it_unless_told_otherwise() -> None:
    closed = _Closed()
    assert (closed.code, closed.message, str(closed)) == (
        "closed",
        "It is closed.",
        "It is closed.",
    )
    told = _Closed("Closed for the season.", season=2019)
    assert (told.message, told.details) == ("Closed for the season.", {"season": 2019})


def test_a_refusal_without_a_text_needs_a_message() -> None:
    assert _Late("Too late.", deadline="2019-10-31").details == {"deadline": "2019-10-31"}
    with pytest.raises(TypeError, match="_Late needs a message"):
        _Late()


def test_the_base_refusal_has_the_generic_code() -> None:
    assert DomainError("A rule refused it.").code == "rule_violated"
