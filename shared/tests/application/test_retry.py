"""Deciding again when another writer was faster, and giving up with the service's conflict."""

import pytest

from bilet.application import MAX_ATTEMPTS, retrying
from bilet.eventstore import WrongExpectedVersion


class Conflict(Exception):
    pass


def stale() -> WrongExpectedVersion:
    return WrongExpectedVersion("participant-1", 1, 2)


async def test_an_attempt_refused_for_a_stale_version_is_decided_again() -> None:
    tries: list[int] = []

    async def attempt() -> str:
        tries.append(len(tries))
        if len(tries) < 3:
            raise stale()
        return "committed"

    assert await retrying(attempt, Conflict) == "committed"
    assert len(tries) == 3


async def test_after_the_last_attempt_the_services_conflict_is_raised() -> None:
    tries: list[int] = []

    async def attempt() -> None:
        tries.append(len(tries))
        raise stale()

    with pytest.raises(Conflict):
        await retrying(attempt, Conflict)
    assert len(tries) == MAX_ATTEMPTS
    tries.clear()
    with pytest.raises(Conflict):
        await retrying(attempt, Conflict, attempts=2)
    assert len(tries) == 2


async def test_any_other_refusal_is_not_retried() -> None:
    tries: list[int] = []

    async def attempt() -> None:
        tries.append(len(tries))
        raise ValueError("a rule refused")

    with pytest.raises(ValueError, match="a rule refused"):
        await retrying(attempt, Conflict)
    assert tries == [0]
