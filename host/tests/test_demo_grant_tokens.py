"""The tokens `bvb run` prints are composed from the demo's grants (docs/adr/0052) and still
name what the other services' demo data holds: the career events demo's college and mentor, the
consent demo's guardian."""

from pathlib import Path

from bilet.http import Role
from bilet.settings import PlatformSettings
from bilet_consent import demo as consent_demo
from bilet_events import demo_offers as events_demo
from bilet_host.tokens import demo_token_claims, demo_tokens_banner
from bilet_identity import demo as identity_demo
from bilet_identity.access import demo_codes, demo_grants


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


def test_the_banner_prints_the_demo_pupils_binding_code_and_how_to_redeem_it(
    tmp_path: Path,
) -> None:
    banner = demo_tokens_banner(PlatformSettings(var_dir=tmp_path))
    assert demo_codes.DEMO_PUPIL_CODE in banner
    assert f"--sign-up --subject {demo_codes.NEW_PUPIL_SUBJECT}" in banner
    assert "/identity/v1/binding-codes/redemption" in banner
    # The indented lines stay `role token` pairs, as scripts and the end-to-end tests read them.
    pairs = [line.split() for line in banner.splitlines() if line.startswith("  ")]
    assert all(len(pair) == 2 for pair in pairs)
    assert {Role(role) for role, _ in pairs} >= {Role.PUPIL, Role.REGISTRAR}
    # The pupil it binds is one the demo loads, and not the printed pupil token's own.
    pupils = {pid for school in identity_demo.SCHOOLS for pid, _ in identity_demo.pupils(school)}
    assert demo_codes.DEMO_CODE_PUPIL in pupils
    assert demo_codes.DEMO_CODE_PUPIL != identity_demo.FIRST_PUPIL
