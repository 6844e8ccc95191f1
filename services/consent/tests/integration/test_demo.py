"""The demo consents: every state visible, the demo guardian's children covered, loading twice
adds nothing."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid5

from bilet.http import Role
from bilet.http.auth import Principal
from bilet.http.testing import app_lifespan
from bilet_consent.app import create_app
from bilet_consent.application.inputs import CommandContext
from bilet_consent.application.service import ConsentService
from bilet_consent.demo import DEMO_GUARDIAN, FIRST_PUPIL, REGION_ID, SECOND_PUPIL, load_demo_data
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import SCHOOL_3, SCHOOL_5, register_pupils

OPERATOR = CommandContext(Principal(subject="test-operator", role=Role.OPERATOR))


async def test_demo_consents_show_every_state(
    make_settings: Callable[..., ConsentSettings],
) -> None:
    settings = make_settings(consent_demo_data=True)
    others = [uuid5(REGION_ID, f"pupil-{n}") for n in range(12)]
    await register_pupils(
        settings,
        [(FIRST_PUPIL, SCHOOL_3, REGION_ID), (SECOND_PUPIL, SCHOOL_3, REGION_ID)]
        + [(p, SCHOOL_5, REGION_ID) for p in others],
    )
    app = create_app(settings)
    async with app_lifespan(app):
        service: ConsentService = app.state.consent
        states = {
            p: (await service.status(OPERATOR, p)).state
            for p in [FIRST_PUPIL, SECOND_PUPIL, *others]
        }
        assert await load_demo_data(service) == 0  # nothing twice
    counted = sorted(states.values())
    assert counted.count("rejected") == 1
    assert counted.count("withdrawn") == 1
    assert counted.count("pending") == 6  # five, and the demo guardian's second child
    assert counted.count("verified") == len(states) - 8
    assert states[FIRST_PUPIL] == "verified"
    assert states[SECOND_PUPIL] == "pending"
    # The demo guardian's token (`bvb token guardian`) names them: they signed these consents.
    guardian = CommandContext(
        Principal(
            subject=str(DEMO_GUARDIAN.guardian_id),
            role=Role.GUARDIAN,
            children=frozenset(DEMO_GUARDIAN.token_claims()["children"]),
        )
    )
    again = create_app(settings)
    async with app_lifespan(again):
        service = again.state.consent
        view = await service.status(guardian, FIRST_PUPIL)
        assert view.consent is not None
        consent = await service.consent(guardian, view.consent.consent_id)
        assert consent.consent.guardian_id == DEMO_GUARDIAN.guardian_id
        assert consent.guardian["guardian_full_name"]["last_name"]  # type: ignore[index]
