"""Read-your-writes with the tokens commands really return: the consent service's own API, on the
same `var/` (its SQLite store, the suite's key store and development keys) as the embedded host
wires them, and the portfolio fed from that store in-process. A portfolio read carrying the token
of a consent command answers with that command's effect."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx

from bilet.http import Role
from bilet.http.consistency import POSITION_HEADER, parse_position_tokens
from bilet.http.testing import app_lifespan
from bilet_consent.app import create_app as create_consent_app
from bilet_consent.settings import ConsentSettings
from bilet_consent.testing import PDF, Clock, consent_form

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, Service


@asynccontextmanager
async def consent_api(service: "Service") -> AsyncIterator[httpx.AsyncClient]:
    """The consent service, as `make run` builds it, on the portfolio's `var/`; its clock in
    the 2019 season, as the portfolio's. It catches up with identity's store as it starts."""
    settings = ConsentSettings(var_dir=service.settings.var_dir)
    app = create_consent_app(settings, clock=Clock(datetime(2019, 9, 20, 10, 0, tzinfo=UTC)))
    async with app_lifespan(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://consent") as client:
            yield client


def position_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in (200, 201), response.text
    header = response.headers[POSITION_HEADER]
    (token,) = parse_position_tokens(header)
    assert token.source == "consent"
    assert token.position == response.json()["position"]
    return {POSITION_HEADER: header}


async def test_a_consent_commands_token_is_honoured_by_the_portfolio(
    service: "Service", ids: "Ids"
) -> None:
    pid = ids.pupil("ryw-consent")
    await service.append(await service.catalogue.registered(pid))
    await service.settle()
    registrar = service.token(Role.REGISTRAR, school=str(ids.school_3))
    coordinator = service.token(Role.COORDINATOR, region=str(ids.leningrad))
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    pupil = service.token(Role.PUPIL, participant=str(pid))
    async with consent_api(service) as consents:
        submitted = await consents.post(
            "/consent/v1/consents",
            headers=registrar,
            files={
                "consent": (None, json.dumps(consent_form(pid)), "application/json"),
                "document": ("consent.pdf", PDF, "application/pdf"),
            },
        )
        seen = await service.client.get(
            f"/portfolio/v1/participants/{pid}", headers={**navigator, **position_of(submitted)}
        )
        assert seen.status_code == 200, seen.text
        assert seen.json()["consent"]["state"] == "pending"

        consent_id = submitted.json()["consent_id"]
        verified = await consents.post(
            f"/consent/v1/consents/{consent_id}/verify", headers=coordinator
        )
        own = await service.client.get(
            f"/portfolio/v1/participants/{pid}", headers={**pupil, **position_of(verified)}
        )
        assert own.status_code == 200, own.text
        body = own.json()
        assert body["open"] is True
        assert body["consent"]["state"] == "verified"
        assert body["display_name"]["last_name"] == "Соколова"
