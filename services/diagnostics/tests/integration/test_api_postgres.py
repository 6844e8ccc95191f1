"""The HTTP app on the real PostgreSQL (production's event store, in a schema of its own): a pupil
takes a stage from start to explained result, and two starts at once open one attempt."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bilet.http import Role
from bilet.http.devkeys import ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet.pgschema import drop_schema
from bilet_diagnostics.adapters.instruments import load_instruments
from bilet_diagnostics.app import create_app
from bilet_diagnostics.settings import DiagnosticsSettings
from bilet_diagnostics.testing import REGION, SCHOOL_3, STAGES, Clock, StaticFacts, Window

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], uuid.UUID]]:
    schema = f"t_diagnostics_api_{uuid.uuid4().hex[:10]}"
    facts = StaticFacts()
    facts.rules[2019] = STAGES
    facts.windows.append(Window(REGION, 2019, STAGES, date(2019, 10, 11), date(2019, 10, 31)))
    pupil = uuid.uuid4()
    facts.add_pupil(pupil, SCHOOL_3, REGION)
    settings = DiagnosticsSettings(
        var_dir=tmp_path,
        event_store="postgres",
        key_store="sqlite",
        database_url=database_url,
        diagnostics_store_schema=schema,
    )
    app = create_app(
        settings,
        clock=Clock(datetime(2019, 10, 15, 10, tzinfo=UTC)),
        facts=facts,
        instruments=load_instruments(),
    )
    token = ensure_development_keys(tmp_path).mint(Role.PUPIL, participant=str(pupil))
    try:
        async with app_lifespan(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://d") as http:
                yield http, {"Authorization": f"Bearer {token}"}, pupil
    finally:
        await drop_schema(database_url, schema)


async def test_a_stage_from_start_to_explained_result_on_postgres(
    client: tuple[httpx.AsyncClient, dict[str, str], uuid.UUID],
) -> None:
    http, headers, pupil = client
    body = {"participant_id": str(pupil), "stage": "interests"}
    first, second = await asyncio.gather(
        http.post("/diagnostics/v1/attempts", headers=headers, json=body),
        http.post("/diagnostics/v1/attempts", headers=headers, json=body),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    attempt: dict[str, Any] = (first if first.status_code == 201 else second).json()

    saves = await asyncio.gather(
        *(
            http.put(
                f"/diagnostics/v1/attempts/{attempt['attempt_id']}/answers/{item['item_id']}",
                headers=headers,
                json={"option_id": item["choices"][0]["option_id"]},
            )
            for item in attempt["items"]
        )
    )
    assert {s.status_code for s in saves} == {200}
    completed = await http.post(
        f"/diagnostics/v1/attempts/{attempt['attempt_id']}/complete", headers=headers
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["answer_sheet"]["item_count"] == len(attempt["items"])
    results = await http.get(f"/diagnostics/v1/participants/{pupil}/results", headers=headers)
    (stage,) = results.json()["stages"]
    assert stage["interests"] == completed.json()["interests"]
    assert stage["reproduced"] is True
