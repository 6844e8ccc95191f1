"""The worker's path on the real Kafka broker and PostgreSQL: identity's, consent's and
diagnostics' published events on their topics reach the facts read model."""

import uuid
from datetime import date
from pathlib import Path

import pytest

from bilet.contracts import DomainEvent
from bilet.contracts.catalogue.consent import Purpose
from bilet.contracts.vocabulary import Stage
from bilet.facts.testing import feed_through_kafka, postgres_read_model
from bilet_diagnostics.adapters.facts import ReadModelFacts
from bilet_diagnostics.facts_testing import (
    REGION,
    SCHOOL_3,
    completed,
    region,
    registered,
    school,
    started,
    verified,
    window,
)
from bilet_diagnostics.worker import WorkerSettings, build_feed

pytestmark = pytest.mark.integration


async def test_the_worker_feeds_the_facts_from_the_three_topics(
    kafka_bootstrap: str, database_url: str, tmp_path: Path
) -> None:
    settings = WorkerSettings(var_dir=tmp_path / "var", kafka_bootstrap=kafka_bootstrap)
    pupil = uuid.uuid4()
    interests = started(pupil, Stage.INTERESTS)
    by_source: dict[str, list[DomainEvent]] = {
        "identity": [
            region(REGION, "Europe/Moscow"),
            window(date(2019, 10, 11), date(2019, 10, 31)),
            school(SCHOOL_3),
            registered(pupil, grade=7),
        ],
        "consent": [verified(pupil, date(2020, 8, 31))],
        "diagnostics": [interests, completed(interests)],
    }
    async with postgres_read_model(database_url, "t_diag_rm") as read_model:
        await feed_through_kafka(
            kafka_bootstrap,
            by_source,
            lambda topics: build_feed(
                settings, read_model, topics=topics, group_id=f"test-{uuid.uuid4().hex}"
            ),
        )
        facts = ReadModelFacts(read_model)
        found = await facts.pupil(pupil, date(2019, 10, 14))
        progress = await facts.progress(SCHOOL_3, 2019)
        is_open = await facts.window_open(REGION, 2019, Stage.INTERESTS, date(2019, 10, 14))
    assert found is not None
    assert found.purposes == {Purpose.PROGRAMME_PARTICIPATION, Purpose.ONLINE_DIAGNOSTICS}
    assert is_open
    (grade,) = progress.grades
    assert (grade.grade, grade.stages[0].started, grade.stages[0].completed) == (7, 1, 1)
