"""The tokens `bvb run` prints are composed from the demo's grants (docs/adr/0052) and still
name what the other services' demo data holds: the career events demo's college and mentor, the
consent demo's guardian."""

from bilet.http import Role
from bilet_consent import demo as consent_demo
from bilet_events import demo_offers as events_demo
from bilet_host.tokens import demo_token_claims
from bilet_identity import demo as identity_demo
from bilet_identity.access import demo_grants


def test_identitys_copies_of_the_career_events_demo_ids_are_the_same() -> None:
    assert demo_grants.DEMO_COLLEGE == events_demo.DEMO_COLLEGE
    assert demo_grants.DEMO_MENTOR == events_demo.DEMO_MENTOR


def test_a_token_per_role_from_the_demo_grants_and_links() -> None:
    claims = {role: (subject, scopes) for role, subject, scopes in demo_token_claims()}
    assert set(claims) == set(Role) - {Role.IDENTITY_PROVIDER}
    school, region = str(identity_demo.SCHOOLS[0].school_id), str(identity_demo.REGION_ID)
    college = str(events_demo.DEMO_COLLEGE)
    assert claims[Role.COORDINATOR] == ("demo-coordinator", {"region": region})
    assert claims[Role.NAVIGATOR] == ("demo-navigator", {"school": school, "region": region})
    assert claims[Role.REGISTRAR] == ("demo-registrar", {"school": school, "region": region})
    assert claims[Role.ORGANISER] == ("demo-organiser", {"region": region, "venue": college})
    assert claims[Role.MENTOR] == (str(events_demo.DEMO_MENTOR), {"venue": college})
    assert claims[Role.PUPIL][1] == {"participant": str(identity_demo.FIRST_PUPIL)}
    guardian = consent_demo.DEMO_GUARDIAN
    assert claims[Role.GUARDIAN] == (str(guardian.guardian_id), guardian.token_claims())
    assert claims[Role.OPERATOR][1] == claims[Role.SUPPORT][1] == claims[Role.ANALYST][1] == {}
