"""A school's progress through the diagnostics of a season, per grade and stage, from the facts
projection on SQLite: who started, who completed, who has not started."""

import itertools
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.catalogue.identity import (
    CorrectionReason,
    ParticipantDetailsCorrected,
    ParticipantEnrolledInSeason,
    ParticipantMovedToSchool,
)
from bilet.contracts.vocabulary import Stage
from bilet_diagnostics.application.facts import GradeProgress, SchoolProgress, StageProgress
from bilet_diagnostics.facts_testing import (
    REGION,
    SCHOOL_3,
    SCHOOL_5,
    FactsHistory,
    completed,
    erased,
    facts_on_sqlite,
    registered,
    rules,
    school,
    started,
    verified,
)

INTERESTS, SOFT_SKILLS, KNOWLEDGE = Stage.INTERESTS, Stage.SOFT_SKILLS, Stage.PROFESSIONS_KNOWLEDGE


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[FactsHistory]:
    async with facts_on_sqlite(tmp_path) as history:
        yield history


def _ids(*pupils: UUID) -> tuple[UUID, ...]:
    return tuple(sorted(pupils))


def _counts(progress: SchoolProgress) -> dict[int, dict[Stage, tuple[int, int, int]]]:
    """grade → stage → (started, completed, not started)."""
    return {
        grade.grade: {s.stage: (s.started, s.completed, len(s.not_started)) for s in grade.stages}
        for grade in progress.grades
    }


async def test_counts_per_grade_and_stage_and_who_has_not_started(history: FactsHistory) -> None:
    anya, borya, vera, gleb = uuid4(), uuid4(), uuid4(), uuid4()
    anya_interests = started(anya, INTERESTS)
    await history.given(
        rules(2019, 1, [INTERESTS, SOFT_SKILLS, KNOWLEDGE]),
        school(SCHOOL_3),
        registered(anya, grade=6),
        registered(borya, grade=6),
        registered(vera, grade=7),
        registered(gleb, SCHOOL_5, grade=6),  # another school: not counted
        anya_interests,
        completed(anya_interests),
        started(borya, INTERESTS),
        started(gleb, INTERESTS),
    )
    progress = await history.facts.progress(SCHOOL_3, 2019)
    assert progress == SchoolProgress(
        school_id=SCHOOL_3,
        region_id=REGION,
        season=2019,
        stages=(INTERESTS, SOFT_SKILLS, KNOWLEDGE),
        grades=(
            GradeProgress(
                grade=6,
                pupils=2,
                stages=(
                    StageProgress(INTERESTS, started=2, completed=1, not_started=()),
                    StageProgress(SOFT_SKILLS, 0, 0, _ids(anya, borya)),
                    StageProgress(KNOWLEDGE, 0, 0, _ids(anya, borya)),
                ),
            ),
            GradeProgress(
                grade=7,
                pupils=1,
                stages=(
                    StageProgress(INTERESTS, 0, 0, (vera,)),
                    StageProgress(SOFT_SKILLS, 0, 0, (vera,)),
                    StageProgress(KNOWLEDGE, 0, 0, (vera,)),
                ),
            ),
        ),
        participant_ids=frozenset({anya, borya, vera}),
    )


async def test_a_retake_counts_the_pupil_once(history: FactsHistory) -> None:
    pupil = uuid4()
    first, second = started(pupil, SOFT_SKILLS), started(pupil, SOFT_SKILLS)
    await history.given(
        school(SCHOOL_3), registered(pupil), first, completed(first), second, completed(second)
    )
    counts = _counts(await history.facts.progress(SCHOOL_3, 2019))
    assert counts[7][SOFT_SKILLS] == (1, 1, 0)


async def test_an_unfinished_retake_does_not_undo_a_completion(history: FactsHistory) -> None:
    pupil = uuid4()
    first = started(pupil, INTERESTS)
    await history.given(
        school(SCHOOL_3), registered(pupil), first, completed(first), started(pupil, INTERESTS)
    )
    assert _counts(await history.facts.progress(SCHOOL_3, 2019))[7][INTERESTS] == (1, 1, 0)


async def test_the_season_order_of_stages_is_kept_and_other_seasons_do_not_count(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(
        rules(2020, 1, [SOFT_SKILLS, INTERESTS]),
        school(SCHOOL_3),
        registered(pupil, season=2019, grade=7),
        started(pupil, INTERESTS, season=2019),
        ParticipantEnrolledInSeason(
            participant_id=pupil, season=2020, school_id=SCHOOL_3, region_id=REGION, grade=8
        ),
    )
    in_2020 = await history.facts.progress(SCHOOL_3, 2020)
    assert in_2020.stages == (SOFT_SKILLS, INTERESTS)
    # The 2019 start is not a 2020 start; the pupil is in grade 8 in 2020 and was in 7 in 2019.
    assert _counts(in_2020) == {8: {SOFT_SKILLS: (0, 0, 1), INTERESTS: (0, 0, 1)}}
    in_2019 = await history.facts.progress(SCHOOL_3, 2019)
    # No rules of 2019 are known: all three stages, in the programme's order.
    assert in_2019.stages == (INTERESTS, SOFT_SKILLS, KNOWLEDGE)
    assert _counts(in_2019)[7][INTERESTS] == (1, 0, 0)


async def test_a_pupil_who_moved_counts_at_the_new_school_with_their_stages(
    history: FactsHistory,
) -> None:
    pupil, stays = uuid4(), uuid4()
    await history.given(
        school(SCHOOL_3),
        school(SCHOOL_5),
        registered(pupil, SCHOOL_3, grade=7),
        registered(stays, SCHOOL_3, grade=7),
        started(pupil, INTERESTS),
        ParticipantMovedToSchool(
            participant_id=pupil,
            from_school_id=SCHOOL_3,
            to_school_id=SCHOOL_5,
            to_region_id=REGION,
            grade=7,
        ),
    )
    old = await history.facts.progress(SCHOOL_3, 2019)
    new = await history.facts.progress(SCHOOL_5, 2019)
    assert old.participant_ids == {stays}
    assert _counts(old)[7][INTERESTS] == (0, 0, 1)
    assert new.participant_ids == {pupil}
    assert _counts(new)[7][INTERESTS] == (1, 0, 0)


async def test_a_move_in_a_later_season_leaves_the_earlier_season_at_the_old_school(
    history: FactsHistory,
) -> None:
    pupil = uuid4()
    await history.given(
        school(SCHOOL_3),
        school(SCHOOL_5),
        registered(pupil, SCHOOL_3, season=2019, grade=7),
        ParticipantEnrolledInSeason(
            participant_id=pupil, season=2020, school_id=SCHOOL_3, region_id=REGION, grade=8
        ),
        ParticipantMovedToSchool(
            participant_id=pupil,
            from_school_id=SCHOOL_3,
            to_school_id=SCHOOL_5,
            to_region_id=REGION,
            grade=8,
        ),
    )
    assert (await history.facts.progress(SCHOOL_3, 2019)).participant_ids == {pupil}
    assert (await history.facts.progress(SCHOOL_3, 2020)).participant_ids == frozenset()
    assert (await history.facts.progress(SCHOOL_5, 2020)).participant_ids == {pupil}


async def test_a_grade_correction_moves_the_pupil_to_their_class(history: FactsHistory) -> None:
    pupil = uuid4()
    await history.given(
        school(SCHOOL_3),
        registered(pupil, grade=6),
        started(pupil, INTERESTS),
        ParticipantDetailsCorrected(
            participant_id=pupil, reason=CorrectionReason.GRADE_CORRECTED, grade=8
        ),
    )
    assert _counts(await history.facts.progress(SCHOOL_3, 2019)) == {
        8: {INTERESTS: (1, 0, 0), SOFT_SKILLS: (0, 0, 1), KNOWLEDGE: (0, 0, 1)}
    }


async def test_erased_pupils_are_left_out(history: FactsHistory) -> None:
    gone, stays = uuid4(), uuid4()
    await history.given(
        school(SCHOOL_3),
        registered(gone),
        registered(stays),
        started(gone, INTERESTS),
        erased(gone),
    )
    progress = await history.facts.progress(SCHOOL_3, 2019)
    assert progress.participant_ids == {stays}
    assert _counts(progress)[7][INTERESTS] == (0, 0, 1)


async def test_a_school_identity_has_not_registered_is_unknown(history: FactsHistory) -> None:
    # Pupils may name a school whose registration has not arrived: it is still unknown.
    await history.given(registered(uuid4(), SCHOOL_5))
    progress = await history.facts.progress(SCHOOL_5, 2019)
    assert not progress.known
    assert progress.region_id is None
    known = await history.facts.progress(SCHOOL_3, 2019)
    await history.given(school(SCHOOL_3))
    assert not known.known
    assert (await history.facts.progress(SCHOOL_3, 2019)).known


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["identity", "consent", "diagnostics"]))
)
async def test_the_sources_may_arrive_in_any_order(tmp_path: Path, order: tuple[str, ...]) -> None:
    # On Kafka each topic is read at its own pace: a consent, an erasure or a started stage may
    # be applied before the registration it is about.
    stays, gone = UUID(int=1), UUID(int=2)
    attempt = started(stays, INTERESTS)
    events: dict[str, list[DomainEvent]] = {
        "identity": [
            rules(2019),
            school(SCHOOL_3),
            registered(stays, grade=6),
            registered(gone, grade=6),
            ParticipantDetailsCorrected(
                participant_id=stays, reason=CorrectionReason.GRADE_CORRECTED, grade=7
            ),
        ],
        "consent": [verified(stays, date(2020, 8, 31)), erased(gone)],
        "diagnostics": [attempt, completed(attempt), started(gone, SOFT_SKILLS)],
    }
    async with facts_on_sqlite(tmp_path) as history:
        for source in order:
            await history.given(*events[source])
        pupil = await history.facts.pupil(stays, date(2019, 10, 14))
        progress = await history.facts.progress(SCHOOL_3, 2019)
    assert pupil is not None
    assert (pupil.grade, pupil.consents_to(Purpose.ONLINE_DIAGNOSTICS)) == (7, True)
    assert progress.participant_ids == {stays}
    assert _counts(progress) == {
        7: {INTERESTS: (1, 1, 0), SOFT_SKILLS: (0, 0, 1), KNOWLEDGE: (0, 0, 1)}
    }
