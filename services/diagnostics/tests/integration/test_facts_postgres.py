"""The facts projection on PostgreSQL: one history (seasons, windows, registrations, a move, a
grade correction, consents withdrawn and expired, an erasure, stages started and completed) gives
the same answers there as on SQLite, and the answers the history means."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantMovedToSchool,
)
from bilet.contracts.vocabulary import Stage
from bilet.facts.testing import answers_on_sqlite, postgres_read_model
from bilet.projections import ReadModel
from bilet_diagnostics.application.facts import Pupil, SchoolProgress
from bilet_diagnostics.facts_testing import (
    OTHER_REGION,
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    FactsHistory,
    completed,
    erased,
    region,
    registered,
    rules,
    school,
    started,
    verified,
    window,
    withdrawn,
)

pytestmark = pytest.mark.integration

TODAY = date(2019, 10, 31)
PUPILS = [uuid.UUID(int=n) for n in range(1, 7)]


def _history() -> list[DomainEvent]:
    moved, corrected, consenting, expired, withdrawing, gone = PUPILS
    interests = started(consenting, Stage.INTERESTS)
    return [
        rules(2019, 1, [Stage.INTERESTS, Stage.SOFT_SKILLS]),
        rules(2019, 2, [Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE]),
        region(REGION, "Europe/Moscow"),
        region(OTHER_REGION, "Asia/Vladivostok"),
        school(SCHOOL_3),
        school(SCHOOL_5),
        window(date(2019, 10, 11), date(2019, 10, 31), [Stage.INTERESTS]),
        window(date(2019, 11, 1), date(2019, 11, 30), [Stage.SOFT_SKILLS]),
        *(registered(pupil, grade=6 + n % 2) for n, pupil in enumerate(PUPILS)),
        ParticipantMovedToSchool(
            participant_id=moved,
            from_school_id=SCHOOL_3,
            to_school_id=SCHOOL_5,
            to_region_id=REGION,
            grade=6,
        ),
        ParticipantDetailsCorrected(
            participant_id=corrected, reason=CorrectionReason.GRADE_CORRECTED, grade=8
        ),
        verified(consenting, date(2020, 8, 31)),
        verified(expired, date(2019, 10, 30)),
        verified(withdrawing, date(2020, 8, 31)),
        withdrawn(withdrawing, date(2019, 10, 20)),
        erased(gone),
        interests,
        completed(interests),
        started(corrected, Stage.INTERESTS),
    ]


Answers = tuple[
    list[Pupil | None], list[SchoolProgress], tuple[Stage, ...] | None, list[bool], list[object]
]


async def _answers(read_model: ReadModel) -> Answers:
    history = FactsHistory(read_model)
    await history.given(*_history())
    facts = history.facts
    now = datetime(2019, 10, 31, 21, 30, tzinfo=UTC)
    return (
        [await facts.pupil(pupil, TODAY) for pupil in PUPILS],
        [await facts.progress(s, 2019) for s in (SCHOOL_3, SCHOOL_5)],
        await facts.season_stages(2019),
        [
            await facts.window_open(REGION, 2019, stage, day)
            for stage in Stage
            for day in (date(2019, 10, 10), date(2019, 10, 31), date(2019, 11, 1))
        ],
        [await facts.region_today(r, now) for r in (REGION, OTHER_REGION, uuid4())],
    )


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[ReadModel]:
    async with postgres_read_model(database_url, "t_diag_rm") as read_model:
        yield read_model


async def test_postgresql_answers_as_sqlite_does_and_as_the_history_means(
    postgres: ReadModel, tmp_path: Path
) -> None:
    expected = await answers_on_sqlite(tmp_path / "diagnostics-readmodel.sqlite3", _answers)
    answers = await _answers(postgres)
    assert answers == expected

    pupils, (school_3, school_5), stages, windows, days = answers
    known = {pupil.participant_id: pupil for pupil in pupils if pupil is not None}
    moved, corrected, consenting, expired, withdrawing, gone = (known[p] for p in PUPILS)
    assert moved.school_id == SCHOOL_5
    assert corrected.grade == 8
    assert Purpose.ONLINE_DIAGNOSTICS in consenting.purposes
    assert expired.purposes == frozenset()
    assert withdrawing.purposes == frozenset()
    assert gone.erased
    assert stages == (Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE)
    # interests: closed, open, closed; soft skills: closed, closed, open; knowledge: never.
    assert windows == [False, True, False, False, False, True, False, False, False]
    assert days == [date(2019, 11, 1), date(2019, 11, 1), None]
    # School 3 keeps four pupils (one moved away, one erased); the corrected one is in grade 8.
    assert school_3.participant_ids == set(PUPILS[1:5])
    by_grade = {grade.grade: grade for grade in school_3.grades}
    assert by_grade[8].stages[0].started == 1
    assert school_5.participant_ids == {PUPILS[0]}
