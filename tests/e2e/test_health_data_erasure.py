"""Health data is a category apart, end to end through the real apps (issue #12, ADR 0017).

Identity and consent run embedded on one temporary `var/` (SQLite stores, the suite's key store).
A school registers a pupil with health limitations and accessibility needs; the guardian's consent
(covering `health_data`) is submitted and verified. Then:

- at no time does any file under `var/` hold the health data in the clear (it is sealed with the
  pupil's health key), while the school's registrar is shown it (a control: the needles match);
- the guardian withdraws only `health_data`: consent destroys the health key at once, and identity
  (reading with the withdrawal's `BVB-Position`) shows the pupil's name and СНИЛС, and the health
  data as withheld (`no_health_consent`);
- the guardian withdraws the rest; consent's own erasure job destroys both keys when due, and
  identity shows nothing personal.

And (ADR 0026) after the health-only withdrawal the school cannot state health data again until a
new consent covering `health_data` is verified; then it can, under a new generation of the health
key, while the destroyed generation's data is never readable again (by the new key neither), and
the erasure destroys every generation.

Identity is read through a fresh app after each destruction, so that what is checked is the data
at rest, not a key a running process still had cached (cache invalidation across processes is
another fix: issue #12, "Erased data stays visible for seconds").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from bilet import stores
from bilet.contracts import decode, health_key_subjects, unseal
from bilet.crypto import ERASED, FieldCipher, SubjectErased
from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER
from bilet.http.devkeys import DevelopmentSigner, ensure_development_keys
from bilet.http.testing import app_lifespan
from bilet_consent.app import create_app as create_consent_app
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import PDF, Clock, consent_form
from bilet_identity.app import create_app as create_identity_app
from bilet_identity.settings import IdentitySettings

SEASON = 2019
START = datetime(2019, 9, 20, 10, 0, tzinfo=UTC)
WAIT = 20.0  # the most a wait for the erasure job may take before the test fails
NAME = ("Бурмистрова", "Олеся", "Игоревна")
SNILS = "112-233-445 95"
# The pupil's health data as the school states it: none of it may be readable at rest.
HEALTH_NEEDLES = (b"musculoskeletal", b"step_free_access", b"sign_language_interpreter")


@dataclass
class Stack:
    var_dir: Path
    signer: DevelopmentSigner
    consent: httpx.AsyncClient
    clock: Clock
    participant_id: str = ""
    consent_id: str = ""
    registrar: dict[str, str] | None = None
    coordinator: dict[str, str] | None = None
    # The `BVB-Position` of the last consent command: identity's read waits for it (its read
    # model of consents in force decides whether health data is shown, docs/adr/0019).
    last_consent_token: str = ""

    def token(self, role: Role, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.mint(role, **claims)}"}


async def _ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    answer = await response
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    if POSITION_HEADER in answer.headers:
        body["_token"] = answer.headers[POSITION_HEADER]
    return body


@contextlib.asynccontextmanager
async def _client(app: FastAPI, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            yield client


def _identity_app(var_dir: Path, clock: Clock) -> FastAPI:
    # On consent's clock: whether the consent is in force (unexpired) is judged on its day.
    return create_identity_app(
        IdentitySettings(var_dir=var_dir, event_store="sqlite"), today=lambda: clock().date()
    )


def _files_holding(var_dir: Path, needles: tuple[bytes, ...]) -> list[tuple[str, bytes]]:
    found: list[tuple[str, bytes]] = []
    for path in var_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found.extend((path.name, n) for n in needles if n in content)
    return found


async def _is_erased(var_dir: Path, subject: str) -> bool:
    keystore = await stores.open_key_store(IdentitySettings(var_dir=var_dir))
    try:
        await keystore.get_or_create(subject)
    except SubjectErased:
        return True
    finally:
        await keystore.close()
    return False


async def _wait_for(what: str, probe: Callable[[], Awaitable[bool]]) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not await probe():  # noqa: ASYNC110 - the consent service's own job
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"not within {WAIT:g} s: {what}")


async def _wait_for_the_erasure_job(
    var_dir: Path, participant_id: str, health_generations: int = 1
) -> None:
    """Until the job destroyed the participant key and every health key generation: it destroys
    them one after another, so the participant key alone says the job has begun, not ended."""
    subjects = (participant_id, *health_key_subjects(participant_id, health_generations))

    async def every_key_destroyed() -> bool:
        return all([await _is_erased(var_dir, subject) for subject in subjects])

    await _wait_for("the erasure job destroyed every key of the pupil", every_key_destroyed)


async def _seed_and_register(stack: Stack, identity: httpx.AsyncClient) -> None:
    operator = stack.token(Role.OPERATOR)
    await _ok(
        identity.put(
            f"/identity/v1/seasons/{SEASON}/rules",
            headers=operator,
            json={
                "eligible_grades": {"lowest": 6, "highest": 11},
                "max_career_events": 3,
                "diagnostics_stages": ["interests", "soft_skills", "professions_knowledge"],
                "starts_on": "2019-09-01",
                "ends_on": "2020-05-31",
            },
        )
    )
    region = await _ok(
        identity.post(
            "/identity/v1/regions",
            headers=operator,
            json={
                "region_code": "47",
                "name": "Ленинградская область",
                "season": SEASON,
                "time_zone": "Europe/Moscow",
                "coordinator": "ГБУ ДО «Интеллект»",
            },
        ),
        201,
    )
    region_id = region["region_id"]
    school = await _ok(
        identity.post(
            f"/identity/v1/regions/{region_id}/schools",
            headers=stack.token(Role.COORDINATOR, region=region_id),
            json={"name": "МОУ «СОШ № 3»", "municipality": "Лужский муниципальный район"},
        ),
        201,
    )
    registrar = stack.token(Role.REGISTRAR, school=school["school_id"])
    registered = await _ok(
        identity.post(
            "/identity/v1/participants",
            headers=registrar,
            json={
                "school_id": school["school_id"],
                "season": SEASON,
                "last_name": NAME[0],
                "first_name": NAME[1],
                "middle_name": NAME[2],
                "birth_date": "2007-04-12",
                "snils": SNILS,
                "grade": 7,
                "health_limitations": {"has_limitations": True, "kind": "musculoskeletal"},
                "accessibility_needs": ["step_free_access", "sign_language_interpreter"],
            },
        ),
        201,
    )
    stack.participant_id = registered["participant_id"]
    stack.registrar = registrar
    stack.coordinator = stack.token(Role.COORDINATOR, region=region_id)
    stack.consent_id = await _consent_verified(stack, registered["_token"])


async def _consent_verified(stack: Stack, after: str) -> str:
    """The guardian's signed consent (every purpose, `health_data` included), submitted by the
    school (once identity's command `after` names is seen) and verified by the region: its id,
    and its verification's token in `stack.last_consent_token`."""
    assert stack.registrar is not None
    assert stack.coordinator is not None
    submitted = await _ok(
        stack.consent.post(
            "/consent/v1/consents",
            headers={**stack.registrar, POSITION_HEADER: after},
            files={
                "consent": (
                    None,
                    json.dumps(consent_form(UUID(stack.participant_id))),
                    "application/json",
                ),
                "document": ("scan.pdf", PDF, "application/pdf"),
            },
        ),
        201,
    )
    consent_id: str = submitted["consent_id"]
    verified = await _ok(
        stack.consent.post(f"/consent/v1/consents/{consent_id}/verify", headers=stack.coordinator)
    )
    stack.last_consent_token = verified["_token"]
    return consent_id


async def _withdraw(stack: Stack, consent_id: str, purposes: list[str] | None = None) -> None:
    """The guardian withdraws `purposes` of the consent (None: all of it); the withdrawal's
    token becomes the last consent command's."""
    guardian = stack.token(Role.GUARDIAN, children=[stack.participant_id])
    withdrawn = await _ok(
        stack.consent.post(
            f"/consent/v1/consents/{consent_id}/withdraw",
            headers=guardian,
            json={} if purposes is None else {"purposes": purposes},
        )
    )
    stack.last_consent_token = withdrawn["_token"]


async def _shown_to_registrar(stack: Stack) -> dict[str, Any]:
    """The participant as a fresh identity process shows it to the school's registrar."""
    assert stack.registrar is not None
    headers = stack.registrar | {POSITION_HEADER: stack.last_consent_token}
    async with _client(_identity_app(stack.var_dir, stack.clock), "identity") as identity:
        return await _ok(
            identity.get(f"/identity/v1/participants/{stack.participant_id}", headers=headers)
        )


@pytest.fixture
def var_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Only this test's settings: no BVB_* of the caller's shell reaches the services."""
    for name in list(os.environ):
        if name.startswith("BVB_"):
            monkeypatch.delenv(name)
    path = tmp_path / "var"
    monkeypatch.setenv("BVB_VAR_DIR", str(path))
    return path


@contextlib.asynccontextmanager
async def _registered_pupil(var_dir: Path) -> AsyncIterator[tuple[Stack, httpx.AsyncClient]]:
    """Identity and consent running on `var_dir`, a pupil registered with health data and the
    guardian's consent (covering it) verified; consent's erasure job runs every 0.1 s."""
    clock = Clock(START)
    consent_app = create_consent_app(
        ConsentSettings(
            var_dir=var_dir, event_store="sqlite", consent_erasure_interval_seconds=0.1
        ),
        clock=clock,
    )
    async with (
        _client(_identity_app(var_dir, clock), "identity") as identity,
        _client(consent_app, "consent") as consent,
    ):
        stack = Stack(var_dir, ensure_development_keys(var_dir), consent, clock)
        await _seed_and_register(stack, identity)
        yield stack, identity


async def test_health_data_is_destroyed_alone_then_with_everything(var_dir: Path) -> None:
    async with _registered_pupil(var_dir) as (stack, _identity):
        pid, clock = stack.participant_id, stack.clock

        # Stored only sealed; shown to the registrar (a control: the needles match it).
        assert _files_holding(var_dir, HEALTH_NEEDLES) == []
        shown = await _shown_to_registrar(stack)
        assert shown["personal"]["health_limitations"]["kind"] == "musculoskeletal"
        assert shown["personal"]["accessibility_needs"] == [
            "step_free_access",
            "sign_language_interpreter",
        ]

        # Only the consent to process health data is withdrawn: the health key goes at once.
        await _withdraw(stack, stack.consent_id, ["health_data"])
        assert await _is_erased(var_dir, f"health:{pid}")
        assert not await _is_erased(var_dir, pid)
        shown = await _shown_to_registrar(stack)
        assert (shown["personal"]["last_name"], shown["personal"]["snils"]) == (NAME[0], SNILS)
        assert shown["personal"]["health_limitations"] is None
        assert shown["personal"]["accessibility_needs"] is None
        # Withheld as soon as identity knows the consent no longer covers it (and destroyed).
        assert shown["personal"]["health_withheld"] == "no_health_consent"
        assert shown["erased"] is False

        # The rest is withdrawn too; consent's own job destroys both keys when it is due.
        await _withdraw(stack, stack.consent_id)
        clock.advance(31)
        await _wait_for_the_erasure_job(var_dir, pid)
        assert await _is_erased(var_dir, f"health:{pid}")
        shown = await _shown_to_registrar(stack)
        assert shown["erased"] is True
        assert shown["personal"] is None
        assert _files_holding(var_dir, HEALTH_NEEDLES) == []


async def _correct_health(stack: Stack, identity: httpx.AsyncClient) -> httpx.Response:
    """The school states the pupil's health data again (with the last consent command's token)."""
    assert stack.registrar is not None
    return await identity.patch(
        f"/identity/v1/participants/{stack.participant_id}",
        headers=stack.registrar | {POSITION_HEADER: stack.last_consent_token},
        json={
            "reason": "health_status_changed",
            "health_limitations": {"has_limitations": True, "kind": "hearing"},
            "accessibility_needs": ["hearing_loop"],
        },
    )


async def _health_opened_from_the_store(stack: Stack) -> list[object]:
    """The health limitations each stored event of the pupil opens to, with a fresh cipher on
    the suite's key store (what any process holding the keys could read)."""
    settings = IdentitySettings(var_dir=stack.var_dir, event_store="sqlite")
    store = await stores.open_event_store(settings, "identity")
    keystore = await stores.open_key_store(settings)
    try:
        cipher = FieldCipher(keystore)
        records = await store.read_stream(f"participant-{stack.participant_id}")
        return [
            (await unseal(cipher, decode(record), health=True)).get("health_limitations")
            for record in records
        ]
    finally:
        await keystore.close()
        await store.close()


async def test_health_data_is_stated_again_only_under_a_new_consent(var_dir: Path) -> None:
    async with _registered_pupil(var_dir) as (stack, identity):
        pid, clock = stack.participant_id, stack.clock
        await _withdraw(stack, stack.consent_id, ["health_data"])

        # No consent covers health data: refused, as long as none does.
        refused = await _correct_health(stack, identity)
        assert (refused.status_code, refused.json()["code"]) == (409, "health_data_withdrawn")

        # The guardian signs a new consent covering it; verified, the school states it again.
        renewed = await _consent_verified(stack, after=stack.last_consent_token)
        accepted = await _correct_health(stack, identity)
        assert accepted.status_code == 200, accepted.text
        personal = (await _shown_to_registrar(stack))["personal"]
        assert personal["health_limitations"] == {"has_limitations": True, "kind": "hearing"}
        assert personal["accessibility_needs"] == ["hearing_loop"]
        assert personal["health_withheld"] is None

        # The old value is never readable again: its generation's key is destroyed, and the
        # new generation's key (which a reader holds) does not open its ciphertext.
        assert await _is_erased(var_dir, f"health:{pid}")
        assert not await _is_erased(var_dir, f"health:{pid}:2")
        assert await _health_opened_from_the_store(stack) == [
            ERASED,
            {"has_limitations": True, "kind": "hearing"},
        ]
        assert _files_holding(var_dir, (*HEALTH_NEEDLES, b"hearing")) == []
        assert "musculoskeletal" not in json.dumps(personal)

        # The whole consent is withdrawn; the erasure destroys every generation.
        await _withdraw(stack, renewed)
        clock.advance(31)
        await _wait_for_the_erasure_job(var_dir, pid, health_generations=2)
        assert await _is_erased(var_dir, f"health:{pid}:2")
        assert await _health_opened_from_the_store(stack) == [ERASED, ERASED]
        shown = await _shown_to_registrar(stack)
        assert (shown["erased"], shown["personal"]) == (True, None)
