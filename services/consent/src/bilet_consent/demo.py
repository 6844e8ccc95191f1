"""The demo consents of `make run`, for identity's Leningrad oblast 2019 pupils.

Most pupils have a verified consent, a few are pending, one is rejected and one withdrawn (today,
by the real clock, so its destruction is visibly scheduled 30 days ahead). The guardians are
generated from a fixed seed — common Russian names, passport numbers drawn at random — and are
nobody; each signed form is a small PDF. Loading again adds nothing (a pupil with any consent is
left alone).

`DEMO_GUARDIAN` is the parent of identity's first demo pupil (and of a sibling whose consent is
pending): a token with `{"role": "guardian", "children": [...]}` of these ids sees both.
"""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.consent import Purpose, RejectionReason, Relationship
from bilet.http.auth import Principal, Role
from bilet_consent.application.documents import PDF, Original, Rebuilt
from bilet_consent.application.inputs import CommandContext, SubmissionInput
from bilet_consent.application.service import ConsentService
from bilet_consent.domain.errors import DomainError
from bilet_consent.domain.guardian import Contact, Guardian, GuardianName, Passport

_log = logging.getLogger(__name__)

DEMO_NAMESPACE: Final = UUID("5d2e8f41-3a7c-5b19-8e6d-0c4b2a1f9e37")
# Identity's demo (bilet_identity.demo): the Leningrad oblast id and its first two pupils of
# МОУ «СОШ № 3». Services do not import each other, so the ids are written here; the host's test
# of the demo checks they still match.
REGION_ID: Final = UUID("b04673c4-e959-5e7b-b095-3d9da56889fb")
FIRST_PUPIL: Final = UUID("7ecea79b-89ca-5a35-b863-9916348ac15b")
SECOND_PUPIL: Final = UUID("289ea047-0d51-5fed-9827-b1883f240bc7")
FORM_VERSION: Final = "2019-1"
PENDING: Final = 5
# Identity's demo derives its pupils' ids from this namespace (`participant:<school>:<number>`)
# and gives the pupils numbered 7, 36, 65, … of each school health limitations and the
# accessibility needs that follow: their guardians are the ones who consent to health data, so
# the demo shows needs acted on (identity's health fields, career events' accessibility).
IDENTITY_DEMO_NAMESPACE: Final = UUID("2c6f0d52-7b1e-5a8e-b3c4-9d0e1f2a3b4c")
_LARGEST_DEMO_SCHOOL: Final = 1000


def has_health_limitations(participant_id: UUID, school_id: UUID) -> bool:
    """Whether identity's demo gave this pupil health limitations (its numbering, rebuilt)."""
    return any(
        participant_id == uuid.uuid5(IDENTITY_DEMO_NAMESPACE, f"participant:{school_id}:{n}")
        for n in range(7, _LARGEST_DEMO_SCHOOL, 29)
    )


@dataclass(frozen=True)
class DemoGuardian:
    guardian_id: UUID
    participant_ids: tuple[UUID, ...]

    def token_claims(self) -> dict[str, str | list[str]]:
        return {"children": [str(p) for p in self.participant_ids]}


DEMO_GUARDIAN: Final = DemoGuardian(
    uuid.uuid5(DEMO_NAMESPACE, "guardian:demo"), (FIRST_PUPIL, SECOND_PUPIL)
)

_SURNAMES: Final = (
    ("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"),
    ("Попов", "Попова"), ("Васильев", "Васильева"), ("Петров", "Петрова"),
    ("Соколов", "Соколова"), ("Михайлов", "Михайлова"), ("Новиков", "Новикова"),
    ("Фёдоров", "Фёдорова"), ("Морозов", "Морозова"), ("Волков", "Волкова"),
)  # fmt: skip
_MOTHERS: Final = ("Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Юлия", "Анна")
_FATHERS: Final = ("Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Игорь", "Олег", "Павел")
_PATRONYMICS: Final = (
    ("Александрович", "Александровна"), ("Викторович", "Викторовна"),
    ("Николаевич", "Николаевна"), ("Владимирович", "Владимировна"),
)  # fmt: skip
_ISSUERS: Final = (
    "ТП № 1 ОУФМС России по Санкт-Петербургу и Ленинградской обл. в Лужском р-не",
    "ГУ МВД России по Санкт-Петербургу и Ленинградской области",
)


def generated_document(participant_id: UUID) -> Rebuilt:
    """The demo's form as the service keeps it: written here, so nothing to disarm (a sandbox
    run per demo pupil would add a minute to the embedded host's start)."""
    document = demo_document(participant_id)
    return Rebuilt(PDF, document, 1, Original.of(document))


def demo_document(participant_id: UUID) -> bytes:
    """A minimal, well-formed one-page PDF standing for the scanned form."""
    text = f"Soglasie na obrabotku personalnyh dannyh {participant_id}".encode("ascii")
    stream = b"BT /F1 10 Tf 40 800 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _guardian(rng: random.Random) -> tuple[Guardian, Relationship]:
    mother = rng.random() < 0.7
    surname = rng.choice(_SURNAMES)[1 if mother else 0]
    first = rng.choice(_MOTHERS if mother else _FATHERS)
    patronymic = rng.choice(_PATRONYMICS)[1 if mother else 0]
    issued = 2005 + rng.randrange(14)
    passport = Passport(
        f"{41 if rng.random() < 0.8 else 40}{issued % 100:02d}",
        f"{rng.randrange(100000, 999999)}",
        rng.choice(_ISSUERS),
        date(issued, 1, 1) + timedelta(days=rng.randrange(365)),
    )
    phone = f"+7921{rng.randrange(1000000, 9999999)}"
    guardian = Guardian(
        GuardianName(surname, first, patronymic), passport, None, Contact(phone, None)
    )
    return guardian, Relationship.PARENT


def _principal(
    role: Role, *, school_id: str | None = None, region_id: str | None = None
) -> Principal:
    return Principal(
        subject=f"demo-{role.value}", role=role, school_id=school_id, region_id=region_id
    )


async def load_demo_data(service: ConsentService) -> int:
    """Submit and decide the demo consents of every pupil of the demo region that has none yet;
    returns how many consents were submitted."""
    pupils = await service.directory.in_region(REGION_ID)
    if not pupils:
        _log.warning("no demo pupils of identity are known here: no demo consents loaded")
        return 0
    today = service.today()
    coordinator = CommandContext(_principal(Role.COORDINATOR, region_id=str(REGION_ID)), "demo")
    ordered = sorted(pupils, key=lambda p: str(p.participant_id))
    special = [
        p.participant_id for p in ordered if p.participant_id not in DEMO_GUARDIAN.participant_ids
    ]
    rejected, withdrawn = special[0], special[1]
    pending = set(special[2 : 2 + PENDING]) | {SECOND_PUPIL}
    added = 0
    for number, facts in enumerate(ordered):
        participant_id = facts.participant_id
        if await service.store.stream_version(f"consent-{participant_id}") is not None:
            continue
        if facts.school_id is None or facts.erased:
            continue
        rng = random.Random(f"bilet-demo-consent-{participant_id}")  # noqa: S311 - demo data
        guardian, relationship = _guardian(rng)
        guardian_id = (
            DEMO_GUARDIAN.guardian_id
            if participant_id in DEMO_GUARDIAN.participant_ids
            else uuid.uuid5(DEMO_NAMESPACE, f"guardian:{participant_id}")
        )
        health = has_health_limitations(participant_id, facts.school_id)
        # every third allows pseudonymised analytics: an export of the demo has a population
        analytics = number % 3 == 0
        purposes = (
            Purpose.PROGRAMME_PARTICIPATION,
            Purpose.ONLINE_DIAGNOSTICS,
            Purpose.CAREER_EVENTS,
            Purpose.PORTFOLIO,
            Purpose.RECOMMENDATIONS,
            *((Purpose.HEALTH_DATA,) if health else ()),
            *((Purpose.PSEUDONYMISED_ANALYTICS,) if analytics else ()),
        )
        registrar = CommandContext(
            _principal(Role.REGISTRAR, school_id=str(facts.school_id)), "demo"
        )
        form = SubmissionInput(
            participant_id=participant_id,
            form_version=FORM_VERSION,
            purposes=purposes,
            signed_on=today - timedelta(days=14),
            valid_until=today + timedelta(days=365),
            relationship=relationship,
            guardian=guardian,
            guardian_id=guardian_id,
        )
        try:
            submitted = await service.submit_generated(
                registrar, form, generated_document(participant_id)
            )
            added += 1
            if participant_id in pending:
                continue
            if participant_id == rejected:
                await service.reject(
                    coordinator, submitted.consent_id, (RejectionReason.UNREADABLE_SCAN,)
                )
                continue
            await service.verify(coordinator, submitted.consent_id)
            if participant_id == withdrawn:
                guardian_ctx = CommandContext(
                    Principal(
                        subject=f"demo-guardian-{guardian_id}",
                        role=Role.GUARDIAN,
                        children=frozenset({str(participant_id)}),
                    ),
                    "demo",
                )
                await service.withdraw(guardian_ctx, submitted.consent_id, None, None)
        except DomainError:
            _log.exception("a demo consent of %s was refused", participant_id)
    _log.info("loaded the demo consents: %d submitted", added)
    return added
