"""The demo attempts of `make run`, for identity's Leningrad oblast 2019 pupils.

Most pupils took the three stages in the region's 2019 window (11–31 October): each attempt was
started, answered and completed through the service's own use cases, on days of that window,
with answers drawn from a fixed seed per pupil (each pupil leans to some options, so profiles
differ), and scored by the shipped instruments. A few pupils of each school have not started
(the navigator's progress shows them), and a few stopped after the first stage. Pupils without a
verified consent are refused by the use cases, as anyone would be.

The history is taken in the background of the service's start (`app.state.demo`): the service
answers at once, and the results appear pupil by pupil within a minute or so. Testing is open
today too (identity's demo opens a window in today's season and enrols its first pupil in it):
the printed pupil token takes the stages of today's season through `/diagnostics/docs`. Loading
again adds nothing (a pupil with any attempt is left alone).
"""

import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Final
from uuid import UUID

from bilet.http.auth import Principal, Role
from bilet_diagnostics.application.inputs import CommandContext
from bilet_diagnostics.application.service import DiagnosticsService
from bilet_diagnostics.domain.errors import DomainError
from bilet_diagnostics.runtime import Runtime
from bilet_diagnostics.settings import DiagnosticsSettings

_log = logging.getLogger(__name__)

# Identity's demo (bilet_identity.demo): services do not import each other, so its ids are
# written here; the host's test of the demo checks they still match.
IDENTITY_DEMO_NAMESPACE: Final = UUID("2c6f0d52-7b1e-5a8e-b3c4-9d0e1f2a3b4c")
SCHOOLS: Final = (
    (UUID("16fae2ab-d1c8-5e70-ba8f-657ddc885c03"), 87),  # МОУ «СОШ № 3»
    (UUID("2b848086-7aca-51be-b130-41e65476f3a5"), 50),  # МБОУ «СОШ № 5»
)
WINDOW_OPENS: Final = datetime(2019, 10, 11, 9, 0, tzinfo=UTC)
WINDOW_DAYS: Final = 21
ONLY_FIRST_STAGE: Final = 3  # per school, after the untested ones


def demo_pupils() -> list[tuple[UUID, int]]:
    """Every demo pupil as (participant id, their number in their school)."""
    return [
        (uuid.uuid5(IDENTITY_DEMO_NAMESPACE, f"participant:{school_id}:{number}"), number)
        for school_id, count in SCHOOLS
        for number in range(1, count + 1)
    ]


class _DemoClock:
    """The clock of the 2019 history: moved to each pupil's testing day."""

    def __init__(self) -> None:
        self.now = WINDOW_OPENS

    def __call__(self) -> datetime:
        return self.now


async def load_demo_data(runtime: Runtime, settings: DiagnosticsSettings) -> int:
    """Take the stages of the 2019 window for the demo pupils with none yet; returns how many
    stages were completed."""
    clock = _DemoClock()
    live = runtime.service
    service = DiagnosticsService(
        live.store, live.keystore, live.facts, live.instruments, live.audit, clock=clock
    )
    completed = 0
    for participant_id, number in demo_pupils():
        if number <= settings.diagnostics_demo_untested:
            continue
        if await service.store.stream_version(f"diagnosticsrecord-{participant_id}") is not None:
            continue
        rng = random.Random(f"bilet-demo-diagnostics-{participant_id}")  # noqa: S311 - demo data
        clock.now = WINDOW_OPENS + timedelta(
            days=rng.randrange(WINDOW_DAYS), minutes=rng.randrange(6 * 60)
        )
        stages = 1 if number <= settings.diagnostics_demo_untested + ONLY_FIRST_STAGE else 3
        try:
            completed += await _take_stages(service, clock, participant_id, rng, stages)
        except DomainError as refused:
            _log.debug("demo pupil %s takes no diagnostics: %s", participant_id, refused.code)
    _log.info("loaded the demo diagnostics: %d stages completed in 2019", completed)
    return completed


async def _take_stages(
    service: DiagnosticsService,
    clock: _DemoClock,
    participant_id: UUID,
    rng: random.Random,
    stages: int,
) -> int:
    ctx = CommandContext(
        Principal(
            subject=f"demo-pupil-{participant_id}",
            role=Role.PUPIL,
            participant_id=str(participant_id),
        ),
        "demo-data",
    )
    season_stages = await service.facts.season_stages(2019) or ()
    # Each pupil leans to some options: a weight per option position, the same in every item.
    leaning = [rng.random() ** 2 + 0.05 for _ in range(16)]
    done = 0
    for stage in season_stages[:stages]:
        attempt_id, _ = await service.start(ctx, participant_id, stage)
        view = await service.attempt_view(ctx, attempt_id)
        allowed = view.deadline - view.started_at
        answers = {
            item.item_id: rng.choices(
                [c.option_id for c in item.choices],
                [leaning[n % len(leaning)] for n in range(len(item.choices))],
            )[0]
            for item in view.items
        }
        clock.now += allowed * rng.uniform(0.4, 0.9)  # answered in time
        await service.save_answers(ctx, attempt_id, answers)
        await service.complete(ctx, attempt_id)
        clock.now += timedelta(minutes=rng.randrange(5, 60))
        done += 1
    return done
