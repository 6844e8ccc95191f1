"""Diagnostics' events in the portfolio: the instruments published, and each stage attempt of a
participant (which attempt of a stage is shown is decided when the document is rendered, by store
position: adapters/document.py)."""

from collections.abc import Sequence
from typing import Any, Final

from bilet.contracts.catalogue import diagnostics
from bilet_portfolio.adapters.json_text import to_json
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, plain


async def _instrument_published(step: Step, event: diagnostics.InstrumentVersionPublished) -> None:
    await step.tx.execute(
        "INSERT INTO {instruments} (instrument, version, stage, item_count, scales) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instrument, version) DO NOTHING",
        event.instrument.value,
        event.version,
        event.stage.value,
        event.item_count,
        to_json(list(event.scales)),
    )


def _instruments(refs: Sequence[Any]) -> str:
    return to_json([ref.model_dump(mode="json") for ref in refs])


async def _stage_started(step: Step, event: diagnostics.StageStarted) -> None:
    await step.ensure_participant(event.participant_id)
    await step.tx.execute(
        "INSERT INTO {stage_attempts} (attempt_id, participant_id, season, stage, status, "
        "instruments, started_position, started_at) "
        "VALUES ($1, $2, $3, $4, 'started', $5, $6, $7) ON CONFLICT (attempt_id) DO NOTHING",
        str(event.attempt_id),
        str(event.participant_id),
        event.season,
        event.stage.value,
        _instruments(event.instruments),
        step.recorded.position,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


def _result(event: diagnostics.StageCompleted) -> tuple[Any, list[dict[str, Any]]]:
    """The stage's result and the instruments it names."""
    if event.interests is not None:
        interests = event.interests
        parts = (interests.klimov, interests.riasec)
        refs = [part.instrument for part in parts if part is not None]
        return plain(interests), [ref.model_dump(mode="json") for ref in refs]
    if event.soft_skills is not None:
        return plain(event.soft_skills), [event.soft_skills.instrument.model_dump(mode="json")]
    knowledge = event.professions_knowledge
    assert knowledge is not None  # the event's validator: exactly one result
    return plain(knowledge), [knowledge.instrument.model_dump(mode="json")]


async def _stage_completed(step: Step, event: diagnostics.StageCompleted) -> None:
    await step.ensure_participant(event.participant_id)
    result, refs = _result(event)
    await step.tx.execute(
        "INSERT INTO {stage_attempts} (attempt_id, participant_id, season, stage, status, "
        "instruments, answer_sheet, result, completed_position, completed_at) "
        "VALUES ($1, $2, $3, $4, 'completed', $5, $6, $7, $8, $9) "
        "ON CONFLICT (attempt_id) DO UPDATE SET status = 'completed', "
        "instruments = excluded.instruments, answer_sheet = excluded.answer_sheet, "
        "result = excluded.result, completed_position = excluded.completed_position, "
        "completed_at = excluded.completed_at",
        str(event.attempt_id),
        str(event.participant_id),
        event.season,
        event.stage.value,
        to_json(refs),
        to_json(plain(event.answer_sheet)),
        to_json(result),
        step.recorded.position,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (diagnostics.InstrumentVersionPublished, _instrument_published),
    (diagnostics.StageStarted, _stage_started),
    (diagnostics.StageCompleted, _stage_completed),
)
