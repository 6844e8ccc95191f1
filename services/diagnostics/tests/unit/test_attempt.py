"""The attempt's deciders, given events / when a command / then events (or the refusal): the
published attempt, its answer sheet and the participant's record."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from bilet.contracts.catalogue.diagnostics import (
    AnswerSheetRef,
    SkillLevel,
    SoftSkillsResult,
    StageCompleted,
    StageStarted,
)
from bilet.contracts.drafts import Unsealed
from bilet.contracts.examples import sealed
from bilet.contracts.vocabulary import Instrument, InstrumentRef, Level, Stage
from bilet_diagnostics.domain import answer_sheet, attempt, participant
from bilet_diagnostics.domain.errors import (
    AttemptCompleted,
    AttemptExists,
    AttemptInProgress,
    DomainError,
    IncompleteSheet,
    StageAlreadyCompleted,
    StageLocked,
    StageNotInSeason,
    TimeLimitPassed,
    UnknownAttempt,
    UnknownItem,
    UnknownOption,
)
from bilet_diagnostics.domain.internal import (
    AnswerRecorded,
    AttemptFinished,
    AttemptOpened,
    SheetClosed,
    SheetOpened,
)

PUPIL = UUID("8d1c7e2a-0b4f-4c6d-9e8a-1f2b3c4d5e6f")
ATTEMPT = UUID("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
NOW = datetime(2019, 10, 15, 10, 0, tzinfo=UTC)
SOFT = (InstrumentRef(instrument=Instrument.SOFT_SKILLS_BANK, version="1.0.0"),)
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
DIGEST = "ab" * 32
SHEET = AnswerSheetRef(answer_sheet_id=uuid4(), item_count=2, digest=DIGEST)
RESULT = SoftSkillsResult(
    instrument=SOFT[0],
    levels=(SkillLevel(skill="teamwork", level=Level.BASIC, score=3, max_score=4),),
)
OPTIONS = ("a", "b", "c")


def started() -> StageStarted:
    return StageStarted(
        attempt_id=ATTEMPT,
        participant_id=PUPIL,
        season=2019,
        stage=Stage.SOFT_SKILLS,
        instruments=SOFT,
    )


def given_attempt(*events: attempt.AttemptEvent) -> attempt.Attempt:
    state = attempt.initial(ATTEMPT)
    for event in events:
        state = attempt.evolve(state, event)
    return state


def opened(minutes: int = 30) -> SheetOpened:
    return SheetOpened(
        attempt_id=ATTEMPT,
        participant_id=PUPIL,
        season=2019,
        stage=Stage.SOFT_SKILLS,
        grade=7,
        instruments=SOFT,
        started_at=NOW,
        deadline=NOW + timedelta(minutes=minutes),
    )


def given_sheet(*events: answer_sheet.SheetEvent) -> answer_sheet.Sheet:
    state = answer_sheet.initial(ATTEMPT)
    for event in events:
        state = answer_sheet.evolve(state, event)
    return state


def closed() -> SheetClosed:
    return SheetClosed(
        attempt_id=ATTEMPT,
        participant_id=PUPIL,
        answer_sheet_id=SHEET.answer_sheet_id,
        item_count=2,
        digest=DIGEST,
        closed_at=NOW,
    )


def recorded(item_id: str) -> AnswerRecorded:
    return AnswerRecorded.model_validate(
        {
            "attempt_id": ATTEMPT,
            "participant_id": PUPIL,
            "item_id": item_id,
            "option": sealed("option"),
        }
    )


def save(
    item_id: str = "ss-01", option: str = "b", current: str | None = None, **kw: object
) -> answer_sheet.SaveAnswer:
    return answer_sheet.SaveAnswer(
        item_id,
        option,
        kw.get("options", OPTIONS),  # type: ignore[arg-type]
        current,
        kw.get("now", NOW + timedelta(minutes=1)),  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------------------- the attempt
def test_given_nothing_when_started_then_stage_started_with_the_versions() -> None:
    events = attempt.decide(
        attempt.Start(PUPIL, 2019, Stage.SOFT_SKILLS, SOFT), attempt.initial(ATTEMPT)
    )
    assert events == [started()]


def test_given_started_when_started_again_then_attempt_exists() -> None:
    with pytest.raises(AttemptExists):
        attempt.decide(
            attempt.Start(PUPIL, 2019, Stage.SOFT_SKILLS, SOFT), given_attempt(started())
        )


def test_given_started_when_completed_with_a_full_sheet_then_stage_completed() -> None:
    (event,) = attempt.decide(attempt.Complete((), SHEET, RESULT), given_attempt(started()))
    assert isinstance(event, StageCompleted)
    assert event.soft_skills == RESULT
    assert event.interests is None
    assert event.professions_knowledge is None
    assert event.answer_sheet == SHEET
    assert (event.participant_id, event.season, event.stage) == (PUPIL, 2019, Stage.SOFT_SKILLS)


def test_given_started_when_completed_with_missing_items_then_they_are_listed() -> None:
    with pytest.raises(IncompleteSheet) as refused:
        attempt.decide(attempt.Complete(("ss-02", "ss-05")), given_attempt(started()))
    assert refused.value.details["missing"] == ["ss-02", "ss-05"]


def test_given_completed_when_completed_again_then_attempt_completed() -> None:
    done = attempt.decide(attempt.Complete((), SHEET, RESULT), given_attempt(started()))
    with pytest.raises(AttemptCompleted):
        attempt.decide(attempt.Complete((), SHEET, RESULT), given_attempt(started(), *done))


def test_given_nothing_when_completed_then_unknown_attempt() -> None:
    with pytest.raises(UnknownAttempt):
        attempt.decide(attempt.Complete((), SHEET, RESULT), attempt.initial(ATTEMPT))


# --------------------------------------------------------------------------- the answer sheet
def test_given_an_open_sheet_when_an_answer_is_saved_then_it_is_recorded_sealed() -> None:
    (draft,) = answer_sheet.decide(save(), given_sheet(opened()))
    assert isinstance(draft, Unsealed)
    assert draft.event_class is AnswerRecorded
    assert draft.clear == {"attempt_id": ATTEMPT, "participant_id": PUPIL, "item_id": "ss-01"}
    assert draft.personal == {"option": "b"}
    assert "'b'" not in repr(draft)


def test_given_the_same_answer_when_saved_again_then_nothing_happens() -> None:
    state = given_sheet(opened(), recorded("ss-01"))
    assert answer_sheet.decide(save(current="b"), state) == []


def test_given_another_answer_when_changed_then_the_new_one_is_recorded() -> None:
    state = given_sheet(opened(), recorded("ss-01"))
    (draft,) = answer_sheet.decide(save(option="c", current="b"), state)
    assert isinstance(draft, Unsealed)
    assert draft.personal == {"option": "c"}


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (save(options=None), UnknownItem),
        (save(option="z"), UnknownOption),
        (save(now=NOW + timedelta(minutes=30)), TimeLimitPassed),
    ],
)
def test_given_an_open_sheet_when_the_answer_is_not_acceptable_then_refused(
    command: answer_sheet.SaveAnswer, error: type[DomainError]
) -> None:
    with pytest.raises(error):
        answer_sheet.decide(command, given_sheet(opened()))


def test_given_a_closed_sheet_when_answered_then_attempt_completed() -> None:
    with pytest.raises(AttemptCompleted):
        answer_sheet.decide(save(), given_sheet(opened(), closed()))


def test_given_no_sheet_when_answered_then_unknown_attempt() -> None:
    with pytest.raises(UnknownAttempt):
        answer_sheet.decide(save(), answer_sheet.initial(ATTEMPT))


def test_answers_after_the_closing_count_for_nothing() -> None:
    state = given_sheet(opened(), recorded("ss-01"), closed(), recorded("ss-02"))
    assert state.answered == frozenset({"ss-01"})
    assert state.closed == closed()


def test_given_an_open_sheet_when_closed_within_the_grace_then_sheet_closed() -> None:
    late = NOW + timedelta(minutes=30) + answer_sheet.COMPLETION_GRACE - timedelta(seconds=1)
    close = answer_sheet.Close(SHEET.answer_sheet_id, 2, DIGEST, late)
    (event,) = answer_sheet.decide(close, given_sheet(opened()))
    assert isinstance(event, SheetClosed)
    assert (event.digest, event.item_count, event.closed_at) == (DIGEST, 2, late)


def test_given_an_open_sheet_when_closed_after_the_grace_then_time_limit_passed() -> None:
    late = NOW + timedelta(minutes=30) + answer_sheet.COMPLETION_GRACE
    with pytest.raises(TimeLimitPassed):
        answer_sheet.decide(
            answer_sheet.Close(SHEET.answer_sheet_id, 2, DIGEST, late), given_sheet(opened())
        )


def test_given_a_sheet_when_opened_again_then_attempt_exists() -> None:
    command = answer_sheet.Open(PUPIL, 2019, Stage.SOFT_SKILLS, 7, SOFT, NOW, timedelta(minutes=30))
    assert answer_sheet.decide(command, answer_sheet.initial(ATTEMPT)) == [opened()]
    with pytest.raises(AttemptExists):
        answer_sheet.decide(command, given_sheet(opened()))


# ---------------------------------------------------------------------- the participant's record
def start(stage: Stage, now: datetime = NOW, attempt_id: UUID = ATTEMPT) -> participant.StartStage:
    return participant.StartStage(attempt_id, 2019, stage, STAGES, now, now + timedelta(minutes=30))


def opened_at(stage: Stage, attempt_id: UUID, now: datetime = NOW) -> AttemptOpened:
    return AttemptOpened(
        participant_id=PUPIL,
        attempt_id=attempt_id,
        season=2019,
        stage=stage,
        deadline=now + timedelta(minutes=30),
    )


def finished(stage: Stage, attempt_id: UUID, season: int = 2019) -> AttemptFinished:
    return AttemptFinished(participant_id=PUPIL, attempt_id=attempt_id, season=season, stage=stage)


def given_record(*events: participant.RecordEvent) -> participant.Record:
    state = participant.initial(PUPIL)
    for event in events:
        state = participant.evolve(state, event)
    return state


def test_given_no_attempts_when_the_first_stage_starts_then_attempt_opened() -> None:
    assert participant.decide(start(Stage.INTERESTS), given_record()) == [
        opened_at(Stage.INTERESTS, ATTEMPT)
    ]


def test_given_no_attempts_when_the_second_stage_starts_then_stage_locked() -> None:
    with pytest.raises(StageLocked) as refused:
        participant.decide(start(Stage.SOFT_SKILLS), given_record())
    assert refused.value.details["waiting_for"] == "interests"


def test_given_the_first_completed_when_the_second_starts_then_attempt_opened() -> None:
    first = uuid4()
    state = given_record(opened_at(Stage.INTERESTS, first), finished(Stage.INTERESTS, first))
    assert participant.decide(start(Stage.SOFT_SKILLS), state) == [
        opened_at(Stage.SOFT_SKILLS, ATTEMPT)
    ]


def test_given_an_attempt_in_progress_when_the_stage_starts_again_then_refused() -> None:
    running = uuid4()
    state = given_record(opened_at(Stage.INTERESTS, running))
    with pytest.raises(AttemptInProgress) as refused:
        participant.decide(start(Stage.INTERESTS, NOW + timedelta(minutes=5)), state)
    assert refused.value.details["attempt_id"] == str(running)


def test_given_an_attempt_whose_time_ran_out_when_the_stage_starts_again_then_allowed() -> None:
    state = given_record(opened_at(Stage.INTERESTS, uuid4()))
    later = NOW + timedelta(minutes=30) + answer_sheet.COMPLETION_GRACE
    assert participant.decide(start(Stage.INTERESTS, later), state) == [
        opened_at(Stage.INTERESTS, ATTEMPT, later)
    ]


def test_given_a_completed_stage_when_started_again_in_the_season_then_stage_completed() -> None:
    first = uuid4()
    state = given_record(opened_at(Stage.INTERESTS, first), finished(Stage.INTERESTS, first))
    with pytest.raises(StageAlreadyCompleted):
        participant.decide(start(Stage.INTERESTS), state)


def test_given_a_stage_completed_last_season_when_started_this_season_then_allowed() -> None:
    first = uuid4()
    state = given_record(finished(Stage.INTERESTS, first, season=2018))
    assert participant.decide(start(Stage.INTERESTS), state) == [
        opened_at(Stage.INTERESTS, ATTEMPT)
    ]


def test_given_a_season_without_the_stage_when_started_then_stage_not_in_season() -> None:
    command = participant.StartStage(
        ATTEMPT, 2019, Stage.SOFT_SKILLS, (Stage.INTERESTS,), NOW, NOW + timedelta(minutes=30)
    )
    with pytest.raises(StageNotInSeason):
        participant.decide(command, given_record())


def test_given_a_completed_stage_when_another_attempt_finishes_then_stage_completed() -> None:
    first, second = uuid4(), uuid4()
    late = NOW + timedelta(hours=1)
    state = given_record(
        opened_at(Stage.INTERESTS, first),
        opened_at(Stage.INTERESTS, second, late),
        finished(Stage.INTERESTS, second),
    )
    with pytest.raises(StageAlreadyCompleted):
        participant.decide(participant.FinishAttempt(first), state)


def test_given_an_opened_attempt_when_finished_then_attempt_finished() -> None:
    state = given_record(opened_at(Stage.INTERESTS, ATTEMPT))
    assert participant.decide(participant.FinishAttempt(ATTEMPT), state) == [
        finished(Stage.INTERESTS, ATTEMPT)
    ]
    with pytest.raises(AttemptCompleted):
        participant.decide(
            participant.FinishAttempt(ATTEMPT),
            given_record(opened_at(Stage.INTERESTS, ATTEMPT), finished(Stage.INTERESTS, ATTEMPT)),
        )


def test_given_no_such_attempt_when_finished_then_unknown_attempt() -> None:
    with pytest.raises(UnknownAttempt):
        participant.decide(participant.FinishAttempt(ATTEMPT), given_record())
