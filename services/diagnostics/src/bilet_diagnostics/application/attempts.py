"""The attempt's commands: start a stage, save an answer, complete.

Each checks who asks, then runs on the kernel's command path (`Transactor`): starting appends
to the participant's record (at the version it read: two starts at once cannot both pass), to
the new attempt's published stream and to its answer sheet, in one commit; an answer is
appended to the sheet at the version of the fold this process knows, else (refused: another
writer was faster) at any version after reading the sheet's tail (docs/adr/0113); completing scores
the sheet and appends to the attempt, the sheet and the record at the versions read, so an
answer saved meanwhile makes it decide again with that answer (ADR 0021). Every write of
answers is audited, by ids and field names only.
"""

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from bilet.application import Attempt as Reads
from bilet.audit import Access
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.diagnostics import AnswerSheetRef, StageCompleted
from bilet.contracts.vocabulary import Stage
from bilet.eventstore import ANY, NO_STREAM
from bilet_diagnostics.application import access
from bilet_diagnostics.application.base import DiagnosticsCore
from bilet_diagnostics.application.errors import (
    ConsentRequired,
    NotEnrolled,
    OutsideWindow,
    ParticipantErased,
    ParticipantMerged,
)
from bilet_diagnostics.application.inputs import AnswerSaved, CommandContext, Completion
from bilet_diagnostics.application.sheets import SheetSnapshot
from bilet_diagnostics.application.streams import attempt_of, record_of
from bilet_diagnostics.domain import answer_sheet, attempt, participant
from bilet_diagnostics.domain.attempt import StageResult
from bilet_diagnostics.domain.errors import AttemptCompleted, DomainError, UnknownAttempt
from bilet_diagnostics.domain.internal import SheetClosed

# Answer sheets are named after their attempt: one sheet per attempt, the same id on every try.
SHEET_NAMESPACE: Final = UUID("6f1d7c2e-3b8a-5e49-9c0d-2a7b4e81f356")


@dataclass(frozen=True)
class _Saves:
    """A save's answers decided on a sheet: what to append, how many items are then answered,
    of how many, and whose sheet it is."""

    decided: list[answer_sheet.Decided]
    answered: int
    item_count: int
    participant_id: UUID


def answer_sheet_id(attempt_id: UUID) -> UUID:
    return uuid.uuid5(SHEET_NAMESPACE, str(attempt_id))


def season_of(today_year: int, today_month: int) -> int:
    """The season a day belongs to: seasons are named by the year their school year starts
    (1 September)."""
    return today_year if today_month >= 9 else today_year - 1


class AttemptCommands(DiagnosticsCore):
    async def start(
        self, ctx: CommandContext, participant_id: UUID, stage: Stage
    ) -> tuple[UUID, int]:
        """Start `stage` for the participant; returns the attempt id and the read-your-writes
        position of its `StageStarted`."""
        access.require_role(ctx.principal, access.STARTERS, "start diagnostics stages")
        pupil = await self.pupil(ctx, participant_id)
        if pupil.erased:
            raise ParticipantErased()
        if pupil.merged_into is not None:
            raise ParticipantMerged(pupil.merged_into)
        today = await self.today_of(pupil)
        if today != self.clock().date():
            # Consent validity and the window are days of the region, not of UTC.
            pupil = await self.pupil(ctx, participant_id, today)
        if Purpose.ONLINE_DIAGNOSTICS not in pupil.purposes:
            raise ConsentRequired()
        season = season_of(today.year, today.month)
        if season not in pupil.seasons:
            raise NotEnrolled(season)
        # The rules in force today in the region: a revision applies from its day on, and an
        # attempt started earlier is never checked against it again.
        stages = await self.facts.season_stages(season, today) or ()
        if stage in stages and not await self.facts.window_open(
            pupil.region_id, season, stage, today
        ):
            raise OutsideWindow(stage.value, today)
        form = self.instruments.current_form(stage, pupil.grade)
        attempt_id = self.ids()
        now = self.clock()

        async def decide(reads: Reads) -> None:
            record = await reads.state(record_of(participant_id))
            start = participant.StartStage(
                attempt_id, season, stage, stages, now, now + form.time_limit
            )
            reads.append(record_of(participant_id).stream_id, participant.decide(start, record))
            started = attempt.Start(participant_id, season, stage, form.instruments)
            reads.append(
                attempt.stream_id(attempt_id),
                attempt.decide(started, attempt.initial(attempt_id)),
                NO_STREAM,
            )
            opening = answer_sheet.Open(
                participant_id, season, stage, pupil.grade, form.instruments, now, form.time_limit
            )
            reads.append(
                answer_sheet.stream_id(attempt_id),
                answer_sheet.decide(opening, answer_sheet.initial(attempt_id)),
                NO_STREAM,
            )

        outcome = await self.transactor.transact_many(ctx, decide)
        return attempt_id, outcome.position

    async def save_answer(
        self, ctx: CommandContext, attempt_id: UUID, item_id: str, option_id: str
    ) -> AnswerSaved:
        """Record the pupil's answer to one item; the same answer again records nothing."""
        recorded, answered, item_count = await self.save_answers(
            ctx, attempt_id, {item_id: option_id}
        )
        return AnswerSaved(attempt_id, item_id, recorded > 0, answered, item_count, option_id)

    async def save_answers(
        self, ctx: CommandContext, attempt_id: UUID, chosen: Mapping[str, str]
    ) -> tuple[int, int, int]:
        """Record the pupil's answers to these items (item id → option id) in one commit, each
        decided as a save of its own (all or none is taken). Returns how many were recorded (the
        others were the answers already), how many items are answered, and of how many. Nothing
        published changes: there is no read-your-writes position to give."""
        access.require_role(ctx.principal, access.TAKERS, "answer for a participant")
        sheet_stream = answer_sheet.stream_id(attempt_id)
        tries = 0

        async def decide(reads: Reads) -> tuple[int, int, int, int | None, bool]:
            # The sheet alone decides a save (it is opened and closed in the attempt's commits),
            # and only its opening, closing and the current answers of these items. First, the
            # fold as this process knows it (its own saves folded in, `sheets.py`), no read:
            # appended at its exact version, so refused if anything landed since (another
            # replica's save, a completion) and then decided again on the fold caught up with
            # the stream, appended with ANY as before (docs/adr/0113).
            nonlocal tries
            tries += 1
            fold = self.sheets.cached(attempt_id) if tries == 1 else None
            if fold is not None and fold.version is not None:
                # Only an answer to record is taken on the fold: nothing to record (the stream
                # may hold another answer since, another replica's) and a refusal (a closing
                # since answers 409, not the deadline's refusal) are decided on the stream as
                # it is, as before, so each answers exactly as a read would.
                with contextlib.suppress(DomainError):
                    saves = await self._decide_saves(ctx, fold, chosen)
                    if saves.decided:
                        reads.append(sheet_stream, saves.decided, fold.version)
                        return (*self._audited(ctx, reads, saves), fold.version, True)
            sheet = await self.sheets.read(attempt_id)
            saves = await self._decide_saves(ctx, sheet, chosen)
            reads.append(sheet_stream, saves.decided, ANY)  # in the items' order, as one part
            return (*self._audited(ctx, reads, saves), sheet.version, False)

        outcome = await self.transactor.transact_many(ctx, decide)
        recorded, answered, item_count, read_version, exact = outcome.value
        if outcome.appended and not exact:
            # At the exact version nothing can have landed between (a closing included): the
            # append would have been refused.
            written = outcome.version(sheet_stream)
            await self._landed_before_closing(sheet_stream, read_version, written)
        return recorded, answered, item_count

    async def _decide_saves(
        self, ctx: CommandContext, sheet: SheetSnapshot, chosen: Mapping[str, str]
    ) -> _Saves:
        """Each chosen answer decided as a save of its own on `sheet` (in the items' order)."""
        opened = sheet.opened
        if opened is None or not access.is_self(ctx.principal, opened.participant_id):
            raise UnknownAttempt()
        current = await self.opened_answers(
            {i: sheet.latest[i] for i in chosen if i in sheet.latest}
        )
        form = self.form_of(opened)
        options_of = form.options
        now = self.clock()
        decided: list[answer_sheet.Decided] = []
        for item_id, option_id in chosen.items():
            save = answer_sheet.SaveAnswer(
                item_id, option_id, options_of.get(item_id), current.get(item_id), now
            )
            decided += answer_sheet.decide(save, sheet.state)
        answered = len(sheet.state.answered | set(chosen))
        return _Saves(decided, answered, len(form.items), opened.participant_id)

    def _audited(self, ctx: CommandContext, reads: Reads, saves: _Saves) -> tuple[int, int, int]:
        """Audit the saves with the commit, only if it writes an answer (docs/adr/0111): also
        when the answer then lands after the closing (409), as it is written all the same.
        Returns how many are recorded, how many items answered, and of how many."""
        record = ctx.audit(Access.WRITE, saves.participant_id, "answer", ["option"])
        reads.audit(self.audit, record)
        return len(saves.decided), saves.answered, saves.item_count

    async def _landed_before_closing(
        self, sheet_stream: str, read: int | None, written: int | None
    ) -> None:
        """An answer appended while the attempt was being completed may land after the sheet's
        closing: it then counts for nothing, and the pupil is told so (409), not that it was
        saved."""
        if written is None:
            return
        first = 0 if read is None else read + 1
        if written <= first:
            return  # nothing was appended in between
        between = await self.store.read_stream(sheet_stream, first, limit=written - first)
        if any(record.type == SheetClosed.event_type for record in between):
            raise AttemptCompleted()

    async def complete(self, ctx: CommandContext, attempt_id: UUID) -> Completion:
        """Score the complete sheet and publish the stage's result (`StageCompleted`)."""
        access.require_role(ctx.principal, access.TAKERS, "complete a participant's attempt")

        async def decide(reads: Reads) -> StageCompleted:
            state = await self.started(ctx, reads, attempt_id)
            if state.participant_id is None or state.season is None or state.stage is None:
                raise AssertionError("a started attempt has its participant, season and stage")
            # The sheet as the saves left it (`SheetCache`: the fold caught up with the stream,
            # reading and decoding only the events after it), not decoded again from its first
            # event; closing it expects the version the fold is at, as a load would.
            sheet = await self.sheets.read(attempt_id)
            if sheet.opened is None:
                raise UnknownAttempt()
            answers = await self.opened_answers(sheet.latest)
            form = self.form_of(sheet.opened)
            missing = self.instruments.missing(form, answers) if not state.completed else ()
            result: StageResult | None = None
            reference: AnswerSheetRef | None = None
            if not missing and not state.completed:
                result = self.instruments.score(form, answers).result
                reference = AnswerSheetRef(
                    answer_sheet_id=answer_sheet_id(attempt_id),
                    item_count=len(answers),
                    digest=self.instruments.answer_sheet_digest(form, answers),
                )
            completed = attempt.decide(attempt.Complete(missing, reference, result), state)
            if reference is None:
                raise AssertionError("decide refuses an incomplete or completed sheet")
            close = answer_sheet.Close(
                reference.answer_sheet_id, reference.item_count, reference.digest, self.clock()
            )
            reads.append(
                answer_sheet.stream_id(attempt_id),
                answer_sheet.decide(close, sheet.state),
                NO_STREAM if sheet.version is None else sheet.version,
            )
            reads.append(attempt_of(attempt_id).stream_id, completed)
            record = await reads.state(record_of(state.participant_id))
            finish = participant.FinishAttempt(attempt_id)
            reads.append(
                record_of(state.participant_id).stream_id, participant.decide(finish, record)
            )
            (stage_completed,) = completed
            if not isinstance(stage_completed, StageCompleted):
                raise AssertionError("a completion decides StageCompleted")
            # The answers were read to score them: audited with the commit (docs/adr/0111).
            scored = ctx.audit(Access.READ, str(state.participant_id), "answers_scored", ["option"])
            reads.audit(self.audit, scored)
            return stage_completed

        try:
            outcome = await self.transactor.transact_many(ctx, decide)
        finally:
            # Closed: no save counts again. Also when the command failed, as it may have failed
            # after the closing was committed (its audit record, written after the commit on
            # PostgreSQL); a sheet forgotten while still open is only folded again when read.
            self.sheets.forget(attempt_id)
        # The event as committed (published, nothing sealed in it: what a read of the stream
        # would decode), not read back and decoded again.
        return Completion(outcome.value, outcome.position)
