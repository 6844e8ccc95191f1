"""Who an export may hold: the latest verified consent covers pseudonymised analytics, and was
neither withdrawn, narrowed, expired, nor followed by an erasure."""

from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from bilet.analytics.population import Population
from bilet.contracts.catalogue.consent import (
    ConsentPurposesWithdrawn,
    ConsentVerified,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
)
from bilet.contracts.catalogue.identity import ParticipantRegistered
from bilet.contracts.examples import sealed

TODAY = date(2019, 10, 14)
WITH_ANALYTICS = (Purpose.PROGRAMME_PARTICIPATION, Purpose.PSEUDONYMISED_ANALYTICS)


def verified(
    pupil: UUID,
    consent: UUID,
    purposes: tuple[Purpose, ...] = WITH_ANALYTICS,
    until: date = date(2020, 6, 1),
) -> ConsentVerified:
    return ConsentVerified(
        participant_id=pupil, consent_id=consent, purposes=purposes, valid_until=until
    )


def fold(*events: object) -> Population:
    population = Population(moment=TODAY)
    for event in events:
        population.apply(event)  # type: ignore[arg-type]
    return population


def test_a_verified_consent_with_the_purpose_covers_the_participant() -> None:
    pupil = uuid4()
    assert fold(verified(pupil, uuid4())).covered() == {pupil}


def test_a_consent_without_the_purpose_expired_or_superseded_does_not() -> None:
    pupil, consent = uuid4(), uuid4()
    assert not fold(verified(pupil, consent, (Purpose.PROGRAMME_PARTICIPATION,))).covers(pupil)
    assert not fold(verified(pupil, consent, until=date(2019, 10, 13))).covers(pupil)
    later = verified(pupil, uuid4(), (Purpose.PROGRAMME_PARTICIPATION,))
    assert not fold(verified(pupil, consent), later).covers(pupil)


def test_withdrawing_the_consent_or_the_purpose_ends_it_and_an_older_consent_is_no_matter() -> None:
    pupil, consent = uuid4(), uuid4()
    withdrawn = ConsentWithdrawn(
        participant_id=pupil, consent_id=consent, withdrawn_on=TODAY, erase_by=date(2019, 11, 13)
    )
    assert not fold(verified(pupil, consent), withdrawn).covers(pupil)
    narrowed = ConsentPurposesWithdrawn(
        participant_id=pupil,
        consent_id=consent,
        withdrawn=(Purpose.PSEUDONYMISED_ANALYTICS,),
        remaining=(Purpose.PROGRAMME_PARTICIPATION,),
        withdrawn_on=TODAY,
    )
    assert not fold(verified(pupil, consent), narrowed).covers(pupil)
    old = ConsentWithdrawn(
        participant_id=pupil, consent_id=uuid4(), withdrawn_on=TODAY, erase_by=date(2019, 11, 13)
    )
    assert fold(verified(pupil, consent), old).covers(pupil)


def test_an_erased_participant_is_never_covered_nor_in_the_dimension() -> None:
    pupil, school, region = uuid4(), uuid4(), uuid4()
    registered = ParticipantRegistered.model_validate_json(
        ParticipantRegistered(
            participant_id=pupil,
            school_id=school,
            region_id=region,
            season=2019,
            grade=7,
            **{
                name: sealed(name)
                for name in (
                    "full_name",
                    "birth_date",
                    "snils",
                    "health_limitations",
                    "accessibility_needs",
                )
            },  # type: ignore[arg-type]
        ).model_dump_json()
    )
    erased = ParticipantErased(
        participant_id=pupil,
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime(2019, 11, 14, tzinfo=UTC),
        destruction_record_id=uuid4(),
    )
    covered = fold(registered, verified(pupil, uuid4()))
    assert covered.dimension(lambda value: value.hex).num_rows == 1
    gone = fold(registered, verified(pupil, uuid4()), erased)
    assert not gone.covers(pupil)
    assert gone.dimension(lambda value: value.hex).num_rows == 0
    assert pupil in gone.known_participants()
