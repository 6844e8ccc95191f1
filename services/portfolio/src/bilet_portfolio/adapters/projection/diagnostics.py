"""Diagnostics' events in the portfolio: the instruments published, and each stage attempt of a
participant (which attempt of a stage is shown is decided when the document is rendered, by store
position: adapters/document.py)."""

from collections.abc import Sequence
from typing import Any, Final

from bilet.contracts.catalogue import diagnostics
from bilet_portfolio.adapters.projection.json_columns import to_json
from bilet_portfolio.adapters.projection.step import Handler, Step, by_event_type, plain

# A stage attempt started ($5 'started': inserted if new, else left as it is) or completed
# ('completed': inserted, or its status and results set). One statement for both, so that a
# long transaction sends a season's attempts in one batch rather than alternating two (ADR 0068).
_ATTEMPT: Final = (
    "INSERT INTO {stage_attempts} (attempt_id, participant_id, season, stage, status, "
    "instruments, answer_sheet, result, started_position, started_at, completed_position, "
    "completed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "ON CONFLICT (attempt_id) DO UPDATE SET "
    "status = CASE WHEN excluded.status = 'completed' THEN excluded.status "
    "ELSE {stage_attempts}.status END, "
    "instruments = CASE WHEN excluded.status = 'completed' THEN excluded.instruments "
    "ELSE {stage_attempts}.instruments END, "
    "answer_sheet = CASE WHEN excluded.status = 'completed' THEN excluded.answer_sheet "
    "ELSE {stage_attempts}.answer_sheet END, "
    "result = CASE WHEN excluded.status = 'completed' THEN excluded.result "
    "ELSE {stage_attempts}.result END, "
    "completed_position = CASE WHEN excluded.status = 'completed' THEN excluded.completed_position "
    "ELSE {stage_attempts}.completed_position END, "
    "completed_at = CASE WHEN excluded.status = 'completed' THEN excluded.completed_at "
    "ELSE {stage_attempts}.completed_at END"
)


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
        _ATTEMPT,
        str(event.attempt_id),
        step.text_of(event.participant_id),
        event.season,
        event.stage.value,
        "started",
        _instruments(event.instruments),
        None,
        None,
        step.recorded.position,
        step.at,
        None,
        None,
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
        _ATTEMPT,
        str(event.attempt_id),
        step.text_of(event.participant_id),
        event.season,
        event.stage.value,
        "completed",
        to_json(refs),
        to_json(plain(event.answer_sheet)),
        to_json(result),
        None,
        None,
        step.recorded.position,
        step.at,
    )
    await step.portfolio_changed(event.participant_id)


HANDLERS: Final[dict[str, Handler]] = by_event_type(
    (diagnostics.InstrumentVersionPublished, _instrument_published),
    (diagnostics.StageStarted, _stage_started),
    (diagnostics.StageCompleted, _stage_completed),
)
