"""Plaintext personal data never shows in a repr (reprs end up in logs and tracebacks): every
model and dataclass that holds the guardian's details, populated."""

from datetime import date
from uuid import UUID

import pytest

from bilet.contracts.catalogue.consent import Relationship
from bilet_consent.api.models import (
    AuthorityModel,
    ConsentModel,
    GuardianModel,
    PassportModel,
    SubmitConsentForm,
)
from bilet_consent.application.access import Visibility
from bilet_consent.application.inputs import ConsentView, SubmissionInput
from bilet_consent.domain.consent import Consent, SubmitConsent, VerifyConsent
from bilet_consent.domain.guardian import Authority, Contact, Guardian, GuardianName, Passport
from bilet_consent.testing import GUARDIAN_FIRST, GUARDIAN_LAST, PASSPORT_NUMBER, consent_form

ACT = {"document": "Распоряжение администрации", "number": "112-р", "issued_on": "2018-05-04"}
_IDS = iter(range(1, 1000))


def uuid4() -> UUID:
    """Ids made of zeros and a counter: a random UUID's hex may hold a secret's digits by chance
    (`921` was found in one), which would fail this test for nothing."""
    return UUID(int=next(_IDS))


SECRETS = (
    GUARDIAN_LAST,
    GUARDIAN_FIRST,
    "Викторовна",
    PASSPORT_NUMBER,
    "41 05",
    "4105",
    "ОУФМС",
    "2010, 3, 15",
    "2010-03-15",
    "79211234567",
    "+7921",
    "Распоряжение",
    "112-р",
    "irina@example.ru",
)
FORM = consent_form(
    uuid4(),
    **{"guardian.authority": ACT, "guardian.email": "irina@example.ru"},
)
GUARDIAN = Guardian(
    GuardianName(GUARDIAN_LAST, GUARDIAN_FIRST, "Викторовна"),
    Passport("4105", PASSPORT_NUMBER, "ТП № 1 ОУФМС", date(2010, 3, 15)),
    Authority("Распоряжение администрации", "112-р", date(2018, 5, 4)),
    Contact("+79211234567", "irina@example.ru"),
)
CONSENT = Consent(
    consent_id=uuid4(),
    document_id=uuid4(),
    school_id=uuid4(),
    form_version="2019-1",
    purposes=frozenset(),
    signed_on=date(2019, 9, 17),
    valid_until=date(2020, 8, 31),
    guardian_id=uuid4(),
    relationship=Relationship.PARENT,
)
PLAINTEXT = {
    "full_name": {"last_name": GUARDIAN_LAST, "first_name": GUARDIAN_FIRST},
    "passport": {"series": "4105", "number": PASSPORT_NUMBER, "issued_by": "ТП № 1 ОУФМС"},
}


def _populated() -> list[object]:
    form = SubmitConsentForm.model_validate(FORM)
    return [
        form,
        form.guardian,
        form.guardian.passport,
        form.guardian.authority,
        GuardianModel.model_validate(FORM["guardian"]),
        PassportModel.model_validate(FORM["guardian"]["passport"]),
        AuthorityModel.model_validate(ACT),
        ConsentModel(
            consent_id=CONSENT.consent_id,
            participant_id=uuid4(),
            status="verified",
            school_id=CONSENT.school_id,
            form_version="2019-1",
            purposes=[],
            effective_purposes=[],
            signed_on=CONSENT.signed_on,
            valid_until=CONSENT.valid_until,
            relationship=Relationship.PARENT,
            guardian_id=CONSENT.guardian_id,
            guardian=PLAINTEXT,
            rejection_reasons=[],
            withdrawn_on=None,
            erase_by=None,
            erased=False,
            version=1,
            position=7,
        ),
        ConsentView(uuid4(), CONSENT, Visibility.VERIFIER, dict(PLAINTEXT), None, False, 1, 7),
        SubmissionInput(
            participant_id=uuid4(),
            form_version="2019-1",
            purposes=(),
            signed_on=CONSENT.signed_on,
            valid_until=CONSENT.valid_until,
            relationship=Relationship.PARENT,
            guardian=GUARDIAN,
        ),
        GUARDIAN,
        SubmitConsent(
            participant_id=uuid4(),
            consent_id=uuid4(),
            document_id=uuid4(),
            school_id=uuid4(),
            form_version="2019-1",
            purposes=(),
            signed_on=CONSENT.signed_on,
            valid_until=CONSENT.valid_until,
            guardian_id=uuid4(),
            relationship=Relationship.PARENT,
            guardian=GUARDIAN,
            today=date(2019, 9, 20),
        ),
        VerifyConsent(uuid4(), date(2019, 9, 20), PLAINTEXT["full_name"], {"phone": "+79211"}),
    ]


@pytest.mark.parametrize("instance", _populated(), ids=lambda i: type(i).__name__)
def test_no_personal_plaintext_in_a_repr(instance: object) -> None:
    shown = repr(instance)
    assert [secret for secret in SECRETS if secret in shown] == []
