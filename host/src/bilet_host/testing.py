"""Test support (imported by tests only, like `bilet.projections.testing`): the embedded demo
(`make run`'s Leningrad 2019 data) as the analytics tests need it.

Every third guardian's demo consent covers `pseudonymised_analytics`, so an export of the demo
as loaded has a population to show, and others to leave out; `consent_to_analytics` has another
guardian sign such a consent (the school uploads it, the coordinator verifies it: the consent
service's real use cases), for tests of a participant who joins the population later.
`start_bvb_run` starts the platform as a person does, for the tests of what `bvb run` prints.
"""

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from bilet.contracts import CATALOGUE
from bilet.contracts.catalogue.consent import Purpose, Relationship
from bilet.eventstore import RecordedEvent
from bilet.eventstore.sqlite import SqliteEventStore
from bilet.http.auth import Principal, Role
from bilet.http.testing import app_lifespan
from bilet_consent import demo as consent_demo
from bilet_consent.application.inputs import CommandContext, SubmissionInput
from bilet_consent.application.service import ConsentService
from bilet_host.embedded import EmbeddedHost, create_embedded_host
from bilet_identity import demo as identity_demo

ANALYTICS_PURPOSES = (
    Purpose.PROGRAMME_PARTICIPATION,
    Purpose.ONLINE_DIAGNOSTICS,
    Purpose.CAREER_EVENTS,
    Purpose.PORTFOLIO,
    Purpose.PSEUDONYMISED_ANALYTICS,
)


@dataclass(frozen=True)
class DemoWorld:
    """The demo's var directory and who in it consented to analytics."""

    var_dir: Path
    covered: frozenset[UUID]
    # pupil → (school id, the consent that covers analytics)
    consents: dict[UUID, tuple[UUID, UUID]]


def consent_service(host: EmbeddedHost) -> ConsentService:
    app = next(service.app for service in host.services if service.name == "consent")
    service: ConsentService = app.state.consent
    return service


@asynccontextmanager
async def running_demo(var_dir: Path) -> AsyncIterator[EmbeddedHost]:
    """The embedded host on `var_dir` (BVB_VAR_DIR is set while it runs)."""
    before = os.environ.get("BVB_VAR_DIR")
    os.environ["BVB_VAR_DIR"] = str(var_dir)
    try:
        host = create_embedded_host()
        async with app_lifespan(host):
            yield host
    finally:
        if before is None:
            os.environ.pop("BVB_VAR_DIR", None)
        else:
            os.environ["BVB_VAR_DIR"] = before


def registrar(school_id: UUID) -> CommandContext:
    principal = Principal(subject="test-registrar", role=Role.REGISTRAR, school_id=str(school_id))
    return CommandContext(principal, "analytics-test")


def coordinator() -> CommandContext:
    principal = Principal(
        subject="test-coordinator", role=Role.COORDINATOR, region_id=str(identity_demo.REGION_ID)
    )
    return CommandContext(principal, "analytics-test")


async def consent_to_analytics(service: ConsentService, pupil: UUID, school_id: UUID) -> UUID:
    """The guardian signs a consent that covers analytics; it is uploaded and verified."""
    guardian, _ = consent_demo._guardian(random.Random(f"analytics-{pupil}"))  # noqa: S311
    today = service.today()
    form = SubmissionInput(
        participant_id=pupil,
        form_version=consent_demo.FORM_VERSION,
        purposes=ANALYTICS_PURPOSES,
        signed_on=today - timedelta(days=1),
        valid_until=today + timedelta(days=365),
        relationship=Relationship.PARENT,
        guardian=guardian,
    )
    submitted = await service.submit_generated(
        registrar(school_id), form, consent_demo.generated_document(pupil)
    )
    await service.verify(coordinator(), submitted.consent_id)
    return submitted.consent_id


def demo_pupils() -> list[tuple[UUID, UUID]]:
    """Every demo pupil with their school, in a fixed order."""
    return [
        (pupil, school.school_id)
        for school in identity_demo.SCHOOLS
        for pupil, _ in identity_demo.pupils(school)
    ]


async def build_demo_world(var_dir: Path) -> DemoWorld:
    """`make run`'s demo on `var_dir`, and who in it the demo's own consents let analytics
    hold: every third guardian's consent covers `pseudonymised_analytics` (`bilet_consent.demo`).
    """
    async with running_demo(var_dir):
        pass  # the embedded host loads the demo data as it starts
    consents = analytics_consents(await _published_events(var_dir))
    return DemoWorld(var_dir, frozenset(consents), consents)


def analytics_consents(events: list[RecordedEvent]) -> dict[UUID, tuple[UUID, UUID]]:
    """Every pupil whose latest verified consent covers analytics and was not withdrawn (wholly
    or for analytics), with their school and that consent."""
    schools = dict(demo_pupils())
    latest: dict[UUID, tuple[UUID, bool]] = {}
    withdrawn: set[UUID] = set()
    for event in events:
        data = json.loads(event.data)
        if event.type == "ConsentVerified":
            covers = Purpose.PSEUDONYMISED_ANALYTICS.value in data["purposes"]
            latest[UUID(data["participant_id"])] = (UUID(data["consent_id"]), covers)
        elif event.type == "ConsentWithdrawn" or (
            event.type == "ConsentPurposesWithdrawn"
            and Purpose.PSEUDONYMISED_ANALYTICS.value in data["withdrawn"]
        ):
            withdrawn.add(UUID(data["consent_id"]))
    return {
        pupil: (schools[pupil], consent_id)
        for pupil, (consent_id, covers) in latest.items()
        if covers and consent_id not in withdrawn
    }


async def _published_events(var_dir: Path) -> list[RecordedEvent]:
    events: list[RecordedEvent] = []
    for service in CATALOGUE.producers():
        path = var_dir / f"{service}.sqlite3"
        if not path.exists():
            continue
        store = await SqliteEventStore.open(path)
        try:
            position = 0
            while page := await store.read_all(position, 1000):
                events += [event for event in page if CATALOGUE.is_published(event.type)]
                position = page[-1].position
        finally:
            await store.close()
    return events


def published_events(var_dir: Path) -> list[RecordedEvent]:
    """Every published event of the demo's stores, read straight from their files."""
    return asyncio.run(_published_events(var_dir))


def personal_data_canaries(*, live_ids: bool = True) -> list[str]:
    """The demo's personal data in every form a file could hold it; with `live_ids`, also the
    pupils' ids of the live system (never in an export; a replayed read model holds them as the
    live one does)."""
    values: list[str] = []
    for school in identity_demo.SCHOOLS:
        for pupil_id, pupil in identity_demo.pupils(school):
            birth = pupil.birth_date
            values += [
                pupil.last_name,
                pupil.first_name,
                pupil.snils,
                pupil.snils.replace("-", "").replace(" ", ""),
                birth.isoformat(),
                birth.strftime("%d.%m.%Y"),
            ]
            if live_ids:
                values.append(str(pupil_id))
            rng = random.Random(f"bilet-demo-consent-{pupil_id}")  # noqa: S311 - the demo's own
            guardian, _ = consent_demo._guardian(rng)
            values += [guardian.name.last_name, guardian.passport.number]
            if guardian.contact.phone:
                values.append(guardian.contact.phone)
    # names shorter than five letters would match inside other words
    return sorted({value for value in values if len(value) >= 5})


def found(canary: str, content: bytes) -> bool:
    """The canary as a token of its own: a six-digit passport number also occurs, by chance,
    inside the hex of a pseudonym or as the microseconds of a time (`…:32.123456+00:00`),
    which is no leak."""
    literal = canary.encode()
    # The plain substring search first (ADR 0072): a scan of 400+ canaries over every file is
    # mostly misses, which `in` finds ~100x faster than a pattern led by a lookbehind.
    if literal not in content:
        return False
    pattern = rb"(?<![0-9A-Za-z.])" + re.escape(literal) + rb"(?![0-9A-Za-z])"
    return re.search(pattern, content) is not None


def start_bvb_run(tmp_path: Path, *, stderr: int) -> tuple["subprocess.Popen[str]", int]:
    """`bvb run` on a free port with its var/ under `tmp_path`, stdout a text pipe; the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    bvb = Path(sys.executable).with_name("bvb")
    process = subprocess.Popen(  # noqa: S603 - the workspace's own command
        [str(bvb), "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "BVB_VAR_DIR": str(tmp_path / "var")},
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    return process, port
