"""The ten worked queries of docs/analytics.md run, as written, against an export of the embedded
demo, and answer what the stores say (counted here without the export)."""

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bilet.analytics import connect
from bilet.contracts import decode
from bilet.contracts.catalogue.events import CareerEventPublished
from bilet_host.cli import main
from bilet_host.testing import DemoWorld, published_events
from bilet_identity import demo as identity_demo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
QUERY = re.compile(r"^### (\d+)\. (.+?)\n\n```sql\n(.*?)```", re.S | re.M)


def worked_queries() -> dict[int, str]:
    return {int(number): sql for number, _, sql in QUERY.findall(DOCS.read_text("utf-8"))}


def test_the_docs_hold_ten_worked_queries() -> None:
    assert sorted(worked_queries()) == list(range(1, 11))


@pytest.fixture
def answers(demo_world: DemoWorld, tmp_path: Path) -> dict[int, list[tuple[Any, ...]]]:
    out = tmp_path / "export"
    assert (
        main(
            [
                "analytics",
                "export",
                "--from",
                "stores",
                "--purpose",
                "docs",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    connection = connect(out)
    try:
        return {
            number: connection.execute(sql).fetchall() for number, sql in worked_queries().items()
        }
    finally:
        connection.close()


def test_the_worked_queries_answer_what_the_stores_hold(
    demo_world: DemoWorld, answers: dict[int, list[tuple[Any, ...]]]
) -> None:
    events = published_events(demo_world.var_dir)
    covered = {str(pupil) for pupil in demo_world.covered}
    mine = [e for e in events if json.loads(e.data).get("participant_id") in covered]
    types = Counter(e.type for e in mine)

    # 1: the dimension, against the demo's own pupils
    schools = {school.school_id: school.name for school in identity_demo.SCHOOLS}
    expected = Counter(
        (identity_demo.MUNICIPALITY, schools[school.school_id], pupil.grade)
        for school in identity_demo.SCHOOLS
        for pupil_id, pupil in identity_demo.pupils(school)
        if str(pupil_id) in covered
    )
    assert {row[:3]: row[3] for row in answers[1]} == dict(expected)

    # 2 and 3: every covered pupil registered in the region, each consented
    assert sum(row[2] for row in answers[2]) == len(covered)
    assert {row[0] for row in answers[2]} == {identity_demo.REGION_NAME}
    funnel = [row[2:] for row in answers[3]]
    registered = sum(row[0] for row in funnel)
    assert registered == types["ParticipantRegistered"] == len(covered)
    assert sum(row[1] for row in funnel) == len(
        {json.loads(e.data)["participant_id"] for e in mine if e.type == "ConsentVerified"}
    )
    completed: dict[str, set[str]] = {}
    for e in mine:
        if e.type == "StageCompleted":
            body = json.loads(e.data)
            completed.setdefault(body["participant_id"], set()).add(body["stage"])
    assert sum(row[2] for row in funnel) == sum(
        1 for stages in completed.values() if len(stages) == 3
    )
    attended = {
        json.loads(e.data)["participant_id"] for e in mine if e.type == "CareerEventAttended"
    }
    assert sum(row[3] for row in funnel) == len(attended)

    # 4–8 read diagnostics and career events: as many answers as the stores have such facts
    assert bool(answers[5]) == bool(types["StageCompleted"])
    assert bool(answers[8]) == bool(attended)
    # 7: one answer per session of every career event not cancelled
    cancelled = {
        json.loads(e.data)["career_event_id"] for e in events if e.type == "CareerEventCancelled"
    }
    sessions = 0
    for e in events:
        if e.type == "CareerEventPublished":
            career_event = decode(e)
            assert isinstance(career_event, CareerEventPublished)
            if str(career_event.career_event_id) not in cancelled:
                sessions += len(career_event.sessions)
    assert len(answers[7]) == sessions

    # 9: every verified consent of a covered pupil, its upload found by its pseudonymised id
    assert sum(row[1] for row in answers[9]) == types["ConsentVerified"]
    # 10: each covered pupil's latest consent allows analytics
    assert dict(answers[10])["pseudonymised_analytics"] == len(covered)
