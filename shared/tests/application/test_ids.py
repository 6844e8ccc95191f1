"""The `Ids` port: production draws random ids, a seeded run draws the same ones every time."""

import uuid

from bilet.application import SeededIds, random_ids


def test_seeded_ids_repeat_for_the_same_seed_and_differ_for_another() -> None:
    first, again, other = SeededIds("7"), SeededIds("7"), SeededIds("8")
    drawn = [first() for _ in range(100)]
    assert drawn == [again() for _ in range(100)]
    assert set(drawn).isdisjoint(other() for _ in range(100))
    assert len(set(drawn)) == 100
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in drawn)


def test_random_ids_are_fresh_version_4_ids() -> None:
    drawn = {random_ids() for _ in range(100)}
    assert len(drawn) == 100
    assert all(i.version == 4 for i in drawn)
