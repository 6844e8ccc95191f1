"""The ids a use case draws itself (a new consent's, an attempt's): a port, so that a seeded run
(`bvb simulate season`, docs/adr/0056) draws the same ids every time without swapping
`uuid.uuid4` for the whole process. In production the ids are random (`random_ids`)."""

import random
import uuid
from typing import Protocol


class Ids(Protocol):
    """Draws a new id (a version-4 UUID) on each call."""

    def __call__(self) -> uuid.UUID: ...


def random_ids() -> uuid.UUID:
    """Production's ids: `uuid.uuid4()`, from the operating system's randomness."""
    return uuid.uuid4()


class SeededIds:
    """Version-4 UUIDs from a generator seeded with `seed`: the same sequence for the same seed.
    For synthetic data only: anyone who knows the seed knows every id."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - ids of synthetic data, reproducible on purpose

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)
