"""The command path: registrations per second of one process on SQLite, against the bare writes
of the same registrations in the same run.

`identity.register.throughput` (registrations/s; target: ours >= 800, issue 17):
- ours: identity's application service (`IdentityService.register_participant`, as the route
  calls it: access, the school, region and season read and folded, the season's rules, the
  СНИЛС reservation and the person's keyed hashes (HMAC), the personal details sealed with new
  data keys, the pydantic events encoded, one atomic append of three streams, the position
  token, the audit record) on the SQLite event store and key store identity opens embedded
  (`adapters.stores`), with `CALLERS` concurrent callers, each registering the next pupil as soon
  as its last one is committed (closed loop), so concurrent commits can share what the store
  shares.
- peer: the store's floor for the same writes: each registration's events exactly as ours
  appended them (read back, given new ids, appended to streams of their own in one
  `append_many`) and then an audit record, with the same callers, on a fresh store opened the
  same way. What ours does beyond that (deciding, sealing, the key store) is the ratio's gap.
- `cpu_ms_per_registration`: this process's CPU time over the round (`time.process_time`: every
  thread, the stores' included) per registration, ours and the peer's; the target of <= 1 ms of
  CPU per registration is judged on ours.
- rounds: 3 (quick too), sides alternating, each of at least a second of work (quick: 150
  registrations, full: 600, grown when a round was shorter), after an untimed warm-up; the
  medians and each side's rounds. The 1-minute load average before and after says how much else
  ran on the 2 cores.
"""

import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_portfolio import IdentitySide
from benchmarks.portfolio_world import NAMES, current_season
from benchmarks.result import BenchResult, ours_at_least
from benchmarks.rounds import ROUNDS, grown, median, rounds_detail
from bilet.audit import AUDIT_CATEGORY, Access, AuditRecord, EventStoreAuditLog
from bilet.eventstore import NO_STREAM, EventStore, NewEvent, StreamAppend, category_of
from bilet.http import Role

CALLERS = 16
TARGET_PER_S = 800.0


@dataclass(frozen=True)
class Sizes:
    registrations: int
    rounds: int


QUICK = Sizes(registrations=150, rounds=ROUNDS)
FULL = Sizes(registrations=600, rounds=ROUNDS)


@dataclass(frozen=True)
class Round:
    registrations: int
    seconds: float
    cpu_seconds: float

    @property
    def per_s(self) -> float:
        return self.registrations / self.seconds


async def timed(count: int, callers: int, one: Callable[[int], Awaitable[None]]) -> Round:
    """`count` calls of `one(number)` by `callers` closed-loop callers: wall and CPU time."""
    numbers: Iterator[int] = iter(range(count))

    async def caller() -> None:
        for number in numbers:
            await one(number)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return Round(count, time.perf_counter() - started, time.process_time() - cpu)


# Given names and patronymics mixed with the world's surnames, so that a round grown on a quiet
# machine (thousands of registrations) still meets no child twice: its surnames and birth dates
# alone give ~1,500 children.
GIVEN_NAMES = (
    "Дарья",
    "Максим",
    "Анна",
    "Иван",
    "Мария",
    "Егор",
    "Полина",
    "Михаил",
    "София",
    "Олег",
)
PATRONYMICS = (
    "Андреевна",
    "Сергеевич",
    "Дмитриевна",
    "Павлович",
    "Игоревна",
    "Олегович",
    "Викторовна",
    "Петрович",
    "Алексеевна",
    "Юрьевич",
)


class Pupils:
    """Eligible grade-7 pupils, each a different child (its own СНИЛС, name and birth date)."""

    def __init__(self, season: int) -> None:
        from bilet_identity.domain.people import GradeAgeBand

        self.season = season
        self.born_from, born_until = GradeAgeBand().birth_dates(7, season)
        self.days = (born_until - self.born_from).days + 1
        self.rng = random.Random(2019)  # nobody's data
        self.next = 0

    def take(self) -> Any:
        from bilet_identity.application.inputs import PupilInput
        from bilet_identity.domain.snils import generate

        number, self.next = self.next, self.next + 1
        names = (len(NAMES), len(GIVEN_NAMES), len(PATRONYMICS))
        last = NAMES[number % names[0]][0]
        first = GIVEN_NAMES[number // names[0] % names[1]]
        patronymic = PATRONYMICS[number // (names[0] * names[1]) % names[2]]
        people = names[0] * names[1] * names[2]
        born = self.born_from + timedelta(days=(number // people) % self.days)
        if number >= people * self.days:
            raise ValueError("more pupils than distinct names and birth dates")
        return PupilInput(
            last_name=last,
            first_name=first,
            middle_name=patronymic,
            birth_date=born,
            snils=generate(self.rng).formatted,
            grade=7,
            season=self.season,
        )


async def written_by(store: EventStore, after: int) -> list[list[NewEvent]]:
    """What one command appended after position `after` (its audit record left out), stream by
    stream, as new events (fresh ids)."""
    by_stream: dict[str, list[NewEvent]] = {}
    for record in await store.read_all(after, 1_000):
        if category_of(record.stream_id) != AUDIT_CATEGORY:
            by_stream.setdefault(record.stream_id, []).append(
                NewEvent(type=record.type, data=record.data, metadata=record.metadata)
            )
    return list(by_stream.values())


async def run(quick: bool) -> AsyncIterator[BenchResult]:
    from bilet_identity.adapters.stores import open_event_store, open_key_store
    from bilet_identity.settings import IdentitySettings

    sizes = QUICK if quick else FULL
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as directory:
        ours_settings = IdentitySettings(var_dir=Path(directory) / "ours")
        peer_settings = IdentitySettings(var_dir=Path(directory) / "peer")
        store = await open_event_store(ours_settings)
        keys = await open_key_store(ours_settings)
        peer_store = await open_event_store(peer_settings)
        try:
            side = IdentitySide(store, keys)
            await side.seed(0)  # the season, the region, the school; no pupil yet
            assert side.school_id is not None
            school_id = side.school_id
            registrar = side.context(Role.REGISTRAR, school_id=str(school_id))
            pupils = Pupils(current_season(date.today()))
            before = await store.head_position()
            await side.service.register_participant(registrar, school_id, pupils.take())
            shape = await written_by(store, before)
            peer_audit = EventStoreAuditLog(peer_store)

            async def ours(_: int) -> None:
                await side.service.register_participant(registrar, school_id, pupils.take())

            async def peer(_: int) -> None:
                suffix = uuid.uuid4()
                await peer_store.append_many(
                    [
                        StreamAppend(
                            f"bench{index}-{suffix}",
                            [NewEvent(e.type, e.data, e.metadata) for e in events],
                            NO_STREAM,
                        )
                        for index, events in enumerate(shape)
                    ]
                )
                await peer_audit.record(
                    AuditRecord(
                        actor="bench-registrar",
                        actor_role="registrar",
                        access=Access.WRITE,
                        subject=str(suffix),
                        purpose="register_participant",
                        fields=("full_name", "birth_date", "snils"),
                        correlation_id="bench",
                    )
                )

            await timed(CALLERS * 2, CALLERS, ours)  # warm-up
            await timed(CALLERS * 2, CALLERS, peer)
            count = sizes.registrations
            ours_rounds: list[Round] = []
            peer_rounds: list[Round] = []
            while len(ours_rounds) < sizes.rounds:
                sides = ((ours, ours_rounds), (peer, peer_rounds))
                taken = []
                for one, rounds in sides if len(ours_rounds) % 2 == 0 else sides[::-1]:
                    taken.append((rounds, await timed(count, CALLERS, one)))
                larger = grown(count, [measured.seconds for _, measured in taken])
                if larger is not None:  # too short to judge: again, larger
                    count = larger
                    continue
                for rounds, measured in taken:
                    rounds.append(measured)
        finally:
            await peer_store.close()
            await keys.close()
            await store.close()
    ours_cpu = median([r.cpu_seconds / r.registrations * 1000 for r in ours_rounds])
    peer_cpu = median([r.cpu_seconds / r.registrations * 1000 for r in peer_rounds])
    yield BenchResult(
        "identity.register.throughput",
        median([r.per_s for r in ours_rounds]),
        median([r.per_s for r in peer_rounds]),
        "registrations/s",
        {
            "callers": CALLERS,
            "registrations_per_round": count,
            "store": "sqlite (identity's embedded event store and key store)",
            "peer_is": "the same events and an audit record, appended bare",
            "cpu_ms_per_registration": round(ours_cpu, 2),
            "peer_cpu_ms_per_registration": round(peer_cpu, 2),
            "cpu_target_ms": 1.0,
            "load_average_before_after": [load_before, round(os.getloadavg()[0], 2)],
            "quick": quick,
            **rounds_detail([r.per_s for r in ours_rounds], [r.per_s for r in peer_rounds]),
        },
        (ours_at_least(TARGET_PER_S),),
    )
