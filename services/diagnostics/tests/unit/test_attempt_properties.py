"""Properties of the attempt's deciders over generated sequences of commands (hypothesis).

The participant's record, given any sequence of starts and finishes at moments that move on:
- a refused command is refused with a `DomainError` (never another exception) and decides
  nothing; replaying the accepted events gives the state their decisions reached;
- at no moment are two attempts at one stage of a season in progress; a stage is completed at
  most once a season, and only after every earlier stage of the season.
The answer sheet, given any sequence of saves (changes, repeats, unknown items and options, late
ones) and a closing: the answers that count are exactly the last accepted answer per item before
the closing, and a repeated answer decides nothing.
"""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bilet.contracts.drafts import Unsealed
from bilet.contracts.examples import sealed
from bilet.contracts.sealed import SealedValue
from bilet.contracts.vocabulary import Instrument, InstrumentRef, Stage
from bilet_diagnostics.application.sheets import SheetSnapshot
from bilet_diagnostics.domain import answer_sheet, participant
from bilet_diagnostics.domain.errors import DomainError, StageLocked
from bilet_diagnostics.domain.internal import (
    AnswerRecorded,
    AttemptFinished,
    SheetClosed,
    SheetOpened,
)

PROPERTIES = settings(max_examples=300, deadline=None, derandomize=True, database=None)
PUPIL = UUID("5a5a5a5a-0000-4000-8000-000000000001")
ATTEMPT = UUID("5e5e5e5e-0000-4000-8000-000000000001")
ATTEMPTS = tuple(UUID(f"5f5f5f5f-0000-4000-8000-00000000000{n}") for n in range(1, 7))
START = datetime(2019, 10, 15, 10, tzinfo=UTC)
LIMIT = timedelta(minutes=30)
STAGES = (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)

record_commands = st.lists(
    st.tuples(
        st.sampled_from(("start", "finish")),
        st.sampled_from(ATTEMPTS),
        st.sampled_from((2019, 2020)),
        st.sampled_from(STAGES),
        st.sampled_from((0, 5, 31, 40)),  # minutes on: within, at and past the time limit
    ),
    max_size=25,
)


@PROPERTIES
@given(record_commands)
def test_the_record_keeps_its_rules_whatever_is_asked(
    commands: list[tuple[str, UUID, int, Stage, int]],
) -> None:
    state = participant.initial(PUPIL)
    accepted: list[participant.RecordEvent] = []
    now = START
    completed: dict[int, list[Stage]] = {}
    for kind, attempt_id, season, stage, minutes in commands:
        now += timedelta(minutes=minutes)
        command: participant.Command = (
            participant.StartStage(attempt_id, season, stage, STAGES, now, now + LIMIT)
            if kind == "start"
            else participant.FinishAttempt(attempt_id)
        )
        before = state
        try:
            events = participant.decide(command, state)
        except DomainError:
            assert state == before
            continue
        for event in events:
            state = participant.evolve(state, event)
        accepted.extend(events)
        for event in events:
            if isinstance(event, AttemptFinished):
                completed.setdefault(event.season, []).append(event.stage)
                earlier = STAGES[: STAGES.index(event.stage)]
                assert set(earlier) <= set(completed[event.season]), "completed out of order"
        running = [
            (a.season, a.stage) for a in state.attempts if a.in_progress(now) and not a.completed
        ]
        assert len(running) == len(set(running)), "two attempts at one stage in progress"
    for stages in completed.values():
        assert len(stages) == len(set(stages)), "a stage completed twice in a season"
        assert all(stage in STAGES for stage in stages)
    replayed = participant.initial(PUPIL)
    for event in accepted:
        replayed = participant.evolve(replayed, event)
    assert replayed == state


def test_stages_start_only_in_order() -> None:
    state = participant.initial(PUPIL)
    for position, stage in enumerate(STAGES):
        for later in STAGES[position + 1 :]:
            with pytest.raises(StageLocked):
                participant.decide(
                    participant.StartStage(ATTEMPT, 2019, later, STAGES, START, START + LIMIT),
                    state,
                )
        start = participant.StartStage(
            ATTEMPTS[position], 2019, stage, STAGES, START, START + LIMIT
        )
        for event in participant.decide(start, state):
            state = participant.evolve(state, event)
        for event in participant.decide(participant.FinishAttempt(ATTEMPTS[position]), state):
            state = participant.evolve(state, event)


ITEMS = ("i-1", "i-2", "i-3")
OPTIONS = ("a", "b")
sheet_commands = st.lists(
    st.tuples(
        st.sampled_from((*ITEMS, "unknown")),
        st.sampled_from((*OPTIONS, "z")),
        st.sampled_from((1, 2, 40)),  # minutes on: the last ones are late
    ),
    max_size=25,
)


@PROPERTIES
@given(sheet_commands, st.integers(min_value=0, max_value=25))
def test_the_answers_that_count_are_the_last_accepted_per_item(
    saves: list[tuple[str, str, int]], close_after: int
) -> None:
    opening = answer_sheet.Open(
        PUPIL,
        2019,
        Stage.SOFT_SKILLS,
        7,
        (InstrumentRef(instrument=Instrument.SOFT_SKILLS_BANK, version="1.0.0"),),
        START,
        timedelta(hours=2),
    )
    (opened,) = answer_sheet.decide(opening, answer_sheet.initial(ATTEMPT))
    assert not isinstance(opened, Unsealed)
    state = answer_sheet.evolve(answer_sheet.initial(ATTEMPT), opened)
    expected: dict[str, str] = {}
    now = START
    for count, (item, option, minutes) in enumerate(saves):
        now += timedelta(minutes=minutes)
        if count == close_after and state.closed is None:
            close = answer_sheet.Close(ATTEMPT, max(1, len(expected)), "ab" * 32, now)
            try:
                for event in answer_sheet.decide(close, state):
                    assert not isinstance(event, Unsealed)
                    state = answer_sheet.evolve(state, event)
            except DomainError:
                pass
        command = answer_sheet.SaveAnswer(
            item, option, OPTIONS if item in ITEMS else None, expected.get(item), now
        )
        try:
            decided = answer_sheet.decide(command, state)
        except DomainError:
            continue
        assert state.closed is None
        assert now < START + timedelta(hours=2)
        if expected.get(item) == option:
            assert decided == []
            continue
        (draft,) = decided
        assert isinstance(draft, Unsealed)
        assert draft.personal == {"option": option}
        recorded = draft.sealed_with({"option": SealedValue.model_validate(sealed("option"))})
        assert isinstance(recorded, AnswerRecorded)
        state = answer_sheet.evolve(state, recorded)
        expected[item] = option
    assert state.answered == frozenset(expected)


def _opened(attempt: UUID) -> SheetOpened:
    return SheetOpened(
        attempt_id=attempt,
        participant_id=PUPIL,
        season=2019,
        stage=Stage.SOFT_SKILLS,
        grade=7,
        instruments=(InstrumentRef(instrument=Instrument.SOFT_SKILLS_BANK, version="1.0.0"),),
        started_at=START,
        deadline=START + LIMIT,
    )


def _closed(attempt: UUID) -> SheetClosed:
    return SheetClosed(
        attempt_id=attempt,
        participant_id=PUPIL,
        answer_sheet_id=attempt,
        item_count=1,
        digest="ab" * 32,
        closed_at=START,
    )


def _answer(attempt: UUID, item: str) -> AnswerRecorded:
    sealed_option = SealedValue.model_validate(sealed("option"))
    return AnswerRecorded(
        attempt_id=attempt, participant_id=PUPIL, item_id=item, option=sealed_option
    )


@PROPERTIES
@given(
    st.lists(st.sampled_from(("opened", "closed", *ITEMS, "item-x")), max_size=30),
    st.integers(min_value=0, max_value=30),
)
def test_a_sheet_folded_at_once_is_the_sheet_folded_event_by_event(
    kinds: list[str], split: int
) -> None:
    """`fold` (docs/adr/0111) gives what `evolve` gives one event at a time, for any order of
    openings, answers (before and after a closing) and closings, from any state on; and so does
    the sheet cache's `SheetSnapshot.after`, whose answers that count are the latest per item
    before the closing (none once closed)."""
    events: list[answer_sheet.SheetEvent] = [
        _opened(ATTEMPT)
        if kind == "opened"
        else _closed(ATTEMPT)
        if kind == "closed"
        else _answer(ATTEMPT, kind)
        for kind in kinds
    ]
    one_by_one = answer_sheet.initial(ATTEMPT)
    latest: dict[str, AnswerRecorded] = {}
    for event in events:
        if isinstance(event, AnswerRecorded) and one_by_one.closed is None:
            latest[event.item_id] = event
        one_by_one = answer_sheet.evolve(one_by_one, event)
    if one_by_one.closed is not None:
        latest = {}
    # From the initial state, and from a state part of the way in (a cached fold caught up).
    assert answer_sheet.fold(answer_sheet.initial(ATTEMPT), events) == one_by_one
    part = answer_sheet.fold(answer_sheet.initial(ATTEMPT), events[:split])
    assert answer_sheet.fold(part, events[split:]) == one_by_one
    expected = SheetSnapshot(one_by_one, len(events), latest)
    start = SheetSnapshot(answer_sheet.initial(ATTEMPT))
    assert start.after(events, len(events)) == expected
    cached = start.after(events[:split], len(events[:split]))
    assert cached.after(events[split:], len(events)) == expected
