"""Who a simulated season is about (`bvb simulate season`): regions, schools, pupils with valid
СНИЛС, and their guardians, drawn from one seed. Pure and deterministic: the same seed and sizes
give the same people with the same ids on every machine. They are nobody.

The ids are uuid5 of a namespace derived from the seed, so two seeds never share an id and a
season simulated twice with one seed is the same season.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from uuid import UUID

from bilet.contracts.catalogue.consent import Relationship
from bilet_consent.domain.guardian import Contact, Guardian, GuardianName, Passport
from bilet_identity.application.inputs import PupilInput
from bilet_identity.domain.region import region_id_for
from bilet_identity.domain.russia import REGION_CODES
from bilet_identity.domain.school import school_id_for
from bilet_identity.domain.snils import generate

SIMULATION_NAMESPACE: Final = UUID("6a1f3c2e-9d4b-5e7a-8c0f-2b3d4e5f6a7b")
PUPILS_PER_SCHOOL: Final = 120
SCHOOLS_PER_MUNICIPALITY: Final = 4
LOWEST_GRADE: Final = 6
HIGHEST_GRADE: Final = 11
DISTRICT: Final = "Муниципальный район №"

_BOYS: Final = ("Артём", "Михаил", "Тимур", "Денис", "Арсений", "Марк", "Платон", "Савелий")
_GIRLS: Final = ("Мирослава", "Злата", "Яна", "Олеся", "Диана", "Лилия", "Зоя", "Нина")
_SURNAMES: Final = (
    ("Комаров", "Комарова"), ("Белов", "Белова"), ("Киселёв", "Киселёва"),
    ("Тихонов", "Тихонова"), ("Медведев", "Медведева"), ("Ершов", "Ершова"),
    ("Сорокин", "Сорокина"), ("Гусев", "Гусева"), ("Титов", "Титова"), ("Кудрявцев", "Кудрявцева"),
)  # fmt: skip
_PATRONYMICS: Final = (
    ("Олегович", "Олеговна"), ("Петрович", "Петровна"), ("Юрьевич", "Юрьевна"),
    ("Романович", "Романовна"), ("Борисович", "Борисовна"), ("Ильич", "Ильинична"),
)  # fmt: skip
_PARENTS: Final = (("Виктор", "Вера"), ("Геннадий", "Галина"), ("Леонид", "Людмила"))


@dataclass(frozen=True)
class SimRegion:
    code: str

    @property
    def region_id(self) -> UUID:
        return region_id_for(self.code)

    @property
    def name(self) -> str:
        return f"Субъект Российской Федерации с кодом {self.code}"


@dataclass(frozen=True)
class SimSchool:
    region: SimRegion
    municipality: str
    name: str
    pupils: int

    @property
    def school_id(self) -> UUID:
        return school_id_for(self.region.region_id, self.municipality, self.name)


@dataclass(frozen=True)
class SimPupil:
    participant_id: UUID
    school: SimSchool
    pupil: PupilInput

    @property
    def grade(self) -> int:
        return self.pupil.grade


def namespace(seed: int) -> UUID:
    return uuid.uuid5(SIMULATION_NAMESPACE, f"seed:{seed}")


def regions(count: int) -> list[SimRegion]:
    """The first `count` subjects by code (at most all 89)."""
    if not 1 <= count <= len(REGION_CODES):
        raise ValueError(f"--regions takes 1 to {len(REGION_CODES)}")
    return [SimRegion(code) for code in REGION_CODES[:count]]


def schools(region: SimRegion, pupils: int) -> list[SimSchool]:
    """`pupils` pupils of a region in schools of at most PUPILS_PER_SCHOOL, four a district."""
    count = max(1, -(-pupils // PUPILS_PER_SCHOOL))
    out = []
    for number in range(count):
        share = pupils // count + (1 if number < pupils % count else 0)
        district = number // SCHOOLS_PER_MUNICIPALITY + 1
        out.append(SimSchool(region, f"{DISTRICT} {district}", f"СОШ № {number + 1}", share))
    return out


def region_shares(total: int, count: int) -> list[int]:
    return [total // count + (1 if n < total % count else 0) for n in range(count)]


def pupils(seed: int, school: SimSchool, season: int) -> list[SimPupil]:
    """The school's pupils, the same on every call for the seed."""
    rng = random.Random(f"bilet-sim-{seed}-{school.school_id}")  # noqa: S311 - synthetic data
    out = []
    for number in range(1, school.pupils + 1):
        girl = rng.random() < 0.5
        grade = rng.randint(LOWEST_GRADE, HIGHEST_GRADE)
        # Grade g in the school year season/season+1: born from September season-g-6 on.
        birth_date = date(season - grade - 6, 9, 1) + timedelta(days=rng.randrange(366))
        pupil = PupilInput(
            last_name=rng.choice(_SURNAMES)[1 if girl else 0],
            first_name=rng.choice(_GIRLS if girl else _BOYS),
            middle_name=rng.choice(_PATRONYMICS)[1 if girl else 0],
            birth_date=birth_date,
            snils=generate(rng).formatted,
            grade=grade,
            season=season,
        )
        participant_id = uuid.uuid5(namespace(seed), f"participant:{school.school_id}:{number}")
        out.append(SimPupil(participant_id, school, pupil))
    return out


def guardian(seed: int, participant_id: UUID) -> tuple[UUID, Guardian, Relationship]:
    """The pupil's parent who signs the consent: an id, a name, a passport and a phone."""
    rng = random.Random(f"bilet-sim-guardian-{seed}-{participant_id}")  # noqa: S311
    mother = rng.random() < 0.7
    issued = 2008 + rng.randrange(15)
    passport = Passport(
        f"{rng.randrange(10, 99)}{issued % 100:02d}",
        f"{rng.randrange(100000, 999999)}",
        "ГУ МВД России",
        date(issued, 1, 1) + timedelta(days=rng.randrange(365)),
    )
    name = GuardianName(
        rng.choice(_SURNAMES)[1 if mother else 0],
        rng.choice(_PARENTS)[1 if mother else 0],
        rng.choice(_PATRONYMICS)[1 if mother else 0],
    )
    contact = Contact(f"+7911{rng.randrange(1000000, 9999999)}", None)
    guardian_id = uuid.uuid5(namespace(seed), f"guardian:{participant_id}")
    return guardian_id, Guardian(name, passport, None, contact), Relationship.PARENT
