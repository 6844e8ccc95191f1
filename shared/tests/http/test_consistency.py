"""Read-your-writes tokens: what commands send and reads accept in BVB-Position."""

import pytest

from bilet.http.consistency import MAX_TOKENS, PositionToken, parse_position_tokens
from bilet.http.problems import Problem


def test_a_token_round_trips_with_and_without_its_stream() -> None:
    tokens = [
        PositionToken("identity", 42, "participant-6f1c0c47-8a1e-4b55-9d3e-2f4c1b0a9e11"),
        PositionToken("consent", 7),
    ]
    header = ", ".join(token.encode() for token in tokens)
    assert parse_position_tokens(header) == tokens


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_header_means_no_wait(header: str | None) -> None:
    assert parse_position_tokens(header) == []


@pytest.mark.parametrize(
    "header",
    [
        "42",  # the bare number identity answered with before tokens named their source
        "identity",
        "identity:",
        "identity:-1",
        "identity:1.5",
        "Identity:1",
        "identity:1:",
        "identity:1:stream with spaces",
        "identity:99999999999999999999",
        f"identity:{1 << 63}",
        "identity:1,,consent:2",
        "identity:1;consent:2",
        "identity:1:participant-1:extra",
    ],
)
def test_a_malformed_token_is_a_clear_error(header: str) -> None:
    with pytest.raises(Problem) as raised:
        parse_position_tokens(header)
    assert raised.value.status == 400
    assert raised.value.code == "invalid_position_token"


def test_too_many_tokens_are_refused() -> None:
    header = ",".join(f"identity:{n}" for n in range(MAX_TOKENS + 1))
    with pytest.raises(Problem) as raised:
        parse_position_tokens(header)
    assert raised.value.code == "invalid_position_token"
    assert len(parse_position_tokens(",".join(header.split(",")[:MAX_TOKENS]))) == MAX_TOKENS
