"""The positions answers report: read again after a commit is heard or after a tenth of a
second, and never kept from a read that a commit overtook."""

from bilet_portfolio.adapters.positions import KEPT_SECONDS, KeptPositions


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Watermarks:
    """The read model's watermarks as a test sets them; counts the reads."""

    def __init__(self) -> None:
        self.values = {"identity": 1}
        self.reads = 0
        self.during_read: KeptPositions | None = None  # hears a commit while being read

    async def __call__(self) -> dict[str, int]:
        self.reads += 1
        if self.during_read is not None:
            self.during_read.moved()
            self.during_read = None
        return dict(self.values)


async def test_positions_are_kept_until_a_commit_is_heard() -> None:
    source, clock = Watermarks(), Clock()
    kept = KeptPositions(source, clock=clock)
    assert await kept.get() == {"identity": 1}
    source.values = {"identity": 2}
    assert await kept.get() == {"identity": 1}  # no commit heard, no time passed
    assert source.reads == 1
    kept.moved()
    assert await kept.get() == {"identity": 2}
    assert source.reads == 2


async def test_positions_are_read_again_after_the_time_they_are_kept() -> None:
    source, clock = Watermarks(), Clock()
    kept = KeptPositions(source, clock=clock)
    await kept.get()
    source.values = {"identity": 5, "consent": 3}
    clock.now += KEPT_SECONDS
    assert await kept.get() == {"identity": 5, "consent": 3}


async def test_a_read_overtaken_by_a_commit_is_not_kept() -> None:
    source, clock = Watermarks(), Clock()
    kept = KeptPositions(source, clock=clock)
    source.during_read = kept
    assert await kept.get() == {"identity": 1}
    source.values = {"identity": 2}
    assert await kept.get() == {"identity": 2}  # read again: the first was not kept
    assert source.reads == 2


async def test_a_caller_changing_its_answer_does_not_change_what_is_kept() -> None:
    kept = KeptPositions(Watermarks(), clock=Clock())
    (await kept.get())["identity"] = 99
    assert await kept.get() == {"identity": 1}
