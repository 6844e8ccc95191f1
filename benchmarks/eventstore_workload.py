"""What both sides of `bench_eventstore` write and read: one payload, one model, one set of sizes.

The payload is a ~300-byte JSON document (an answer recorded in a career-guidance test), the same
bytes on both sides; the model it decodes into is a small frozen pydantic model.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from uuid import uuid4

from pydantic import BaseModel, ConfigDict

EVENT_TYPE = "AnswerRecorded"
# The peer names an event's class by topic; same length and role as our event type.
PEER_TOPIC = "bench:AnswerRecorded"
STREAM_CATEGORY = "participant"


class AnswerRecorded(BaseModel):
    """The read side's view of one event: what `read_all_decoded` decodes every event into."""

    model_config = ConfigDict(frozen=True)

    participant_id: str
    test_id: str
    question: int
    answer: str
    score: int
    duration_ms: int
    tags: tuple[str, ...]
    comment: str


def make_payload() -> bytes:
    payload = json.dumps(
        {
            "participant_id": str(uuid4()),
            "test_id": "career-orientation-grade-8",
            "question": 17,
            "answer": "Работать с техникой и механизмами",
            "score": 4,
            "duration_ms": 12840,
            "tags": ["engineering", "hands-on", "team"],
            "comment": "Changed the answer once",
        },
        ensure_ascii=False,
    ).encode()
    AnswerRecorded.model_validate_json(payload)  # the payload is what the model reads
    return payload


PAYLOAD = make_payload()


def new_stream_ids(count: int, tag: str) -> list[str]:
    """Stream ids as our services name them (`category-uuid`); the peer stores the same text."""
    return [f"{STREAM_CATEGORY}{tag}-{uuid4()}" for _ in range(count)]


@dataclass(frozen=True)
class Sizes:
    appends: int  # timed appends to new streams (sequential and 16 writers, each side)
    decide_ops: int  # timed load-decide-append cycles
    decide_streams: int  # existing streams they cycle over
    decide_stream_length: int  # events in each of those streams before timing
    read_all_events: int  # events read back and decoded
    warmup: int  # untimed operations before each timing
    writers: int = 16
    page: int = 1000  # read_all page size
    seed_batch: int = 1000  # events per commit when seeding

    def scaled(self, factor: float) -> "Sizes":
        """The timed workloads `factor` times larger (a round too short to judge grows)."""

        def more(count: int) -> int:
            return max(count + 1, math.ceil(count * factor))

        return replace(
            self,
            appends=more(self.appends),
            decide_ops=more(self.decide_ops),
            decide_streams=more(self.decide_streams),
            read_all_events=more(self.read_all_events),
        )


FULL = Sizes(
    appends=3000,
    decide_ops=2000,
    decide_streams=1000,
    decide_stream_length=10,
    read_all_events=50_000,
    warmup=100,
)
QUICK = Sizes(
    appends=300,
    decide_ops=200,
    decide_streams=100,
    decide_stream_length=10,
    read_all_events=5_000,
    warmup=20,
)


def timed(work: Callable[[], int]) -> tuple[int, float]:
    """Run `work` (it returns how many events it handled) and time it with perf_counter."""
    start = time.perf_counter()
    count = work()
    return count, time.perf_counter() - start
