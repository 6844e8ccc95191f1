"""What diagnostics answers: an attempt as the pupil resumes it, and a participant's completed
stages with their explanations. Every read of answers or results is audited (ids and field
names only)."""

from uuid import UUID

from bilet.audit import Access
from bilet.contracts.catalogue.diagnostics import StageCompleted
from bilet_diagnostics.application import access
from bilet_diagnostics.application.base import ERASED_ANSWER, DiagnosticsCore
from bilet_diagnostics.application.errors import ParticipantErased
from bilet_diagnostics.application.inputs import (
    AttemptView,
    CommandContext,
    ItemView,
    ResultsView,
    StageOutcome,
)
from bilet_diagnostics.application.streams import attempt_of, record_of, sheet_of
from bilet_diagnostics.domain.answer_sheet import COMPLETION_GRACE
from bilet_diagnostics.domain.attempt import StageResult


def _status(completed: bool, in_time: bool) -> str:
    if completed:
        return "completed"
    return "in_progress" if in_time else "expired"


class DiagnosticsQueries(DiagnosticsCore):
    async def attempt_view(self, ctx: CommandContext, attempt_id: UUID) -> AttemptView:
        """The attempt's items in order, what is answered (how: to the pupil only) and the time
        left: what a pupil who lost the connection resumes from."""
        access.require_role(ctx.principal, access.ATTEMPT_READERS, "see attempts")
        reads = self.transactor.attempt()
        state = await self.started(ctx, reads, attempt_id)
        sheet = await self.sheet_answers(await reads.read(sheet_of(attempt_id).stream_id))
        form = self.form_of(sheet.opened)
        shown = access.sees_answers(ctx.principal, sheet.opened.participant_id)
        items = tuple(
            ItemView(
                item.item_id,
                item.instrument,
                item.prompt,
                choices,
                item.item_id in sheet.answers,
                sheet.answers.get(item.item_id) if shown else None,
            )
            for item, choices in zip(form.items, self.parts_of(form).choices, strict=True)
        )
        now = self.clock()
        deadline = sheet.opened.deadline
        completed = await reads.read(attempt_of(attempt_id).stream_id)
        result = next((e for e in completed.events if isinstance(e, StageCompleted)), None)
        await self.audit.record(
            ctx.audit(
                Access.READ,
                sheet.opened.participant_id,
                "attempt_view",
                ["option"] if shown else [],
            )
        )
        return AttemptView(
            attempt_id=attempt_id,
            participant_id=sheet.opened.participant_id,
            season=sheet.opened.season,
            stage=sheet.opened.stage,
            grade=sheet.opened.grade,
            instruments=sheet.opened.instruments,
            status=_status(state.completed, now < deadline + COMPLETION_GRACE),
            started_at=sheet.opened.started_at,
            deadline=deadline,
            seconds_left=max(0, int((deadline - now).total_seconds()))
            if not state.completed
            else 0,
            items=items,
            answers_shown=shown,
            result=_result_of(result),
            answer_sheet=result.answer_sheet if result is not None else None,
            position=completed.position,
        )

    async def results(self, ctx: CommandContext, participant_id: UUID) -> ResultsView:
        """Every completed stage of the participant, each explained again from its stored answers
        and instrument versions (scoring is deterministic: the explanation is the result's)."""
        access.require_role(ctx.principal, access.RESULT_READERS, "see diagnostics results")
        pupil = await self.pupil(ctx, participant_id)
        if pupil.erased:
            raise ParticipantErased()
        reads = self.transactor.attempt()
        record = await reads.state(record_of(participant_id))
        stages: list[StageOutcome] = []
        position = 0
        for entry in record.completed_attempts():
            published = await reads.read(attempt_of(entry.attempt_id).stream_id)
            position = max(position, published.position)
            completed = next(e for e in published.events if isinstance(e, StageCompleted))
            sheet = await self.sheet_answers(await reads.read(sheet_of(entry.attempt_id).stream_id))
            explanation: dict[str, object] | None = None
            reproduced: bool | None = None
            if sheet.answers and ERASED_ANSWER not in sheet.answers.values():
                scored = self.instruments.score(self.form_of(sheet.opened), sheet.answers)
                explanation = scored.explanation()
                reproduced = scored.result == _result_of(completed)
            stages.append(
                StageOutcome(
                    completed, sheet.opened.grade, sheet.opened.instruments, explanation, reproduced
                )
            )
        await self.audit.record(
            ctx.audit(Access.READ, participant_id, "diagnostics_results", ["option"])
        )
        return ResultsView(participant_id, tuple(stages), position)


def _result_of(event: StageCompleted | None) -> StageResult | None:
    if event is None:
        return None
    return event.interests or event.soft_skills or event.professions_knowledge
