"""Pupils' and guardians' accounts over HTTP (issue #20, docs/adr/0053): a registrar prints one-time
codes for a class of their school; a pupil binds their own account (the token's subject) by one;
a consent's verifier issues the signer's code; the guardian's account is entitled to the child
only once that consent is verified and loses it on withdrawal, rejection or erasure; guessing
codes is rate-limited and fails."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from bilet.audit import AUDIT_CATEGORY
from bilet.contracts import SealedValue
from bilet.contracts.catalogue.consent import (
    ConsentRejected,
    ConsentSubmitted,
    ConsentWithdrawn,
    ErasureReason,
    ParticipantErased,
    Purpose,
    RejectionReason,
    Relationship,
)
from bilet.contracts.examples import sealed
from bilet.http import Role
from bilet.http.consistency import parse_position_tokens
from bilet_identity.access.bindings import AccountDirectory
from bilet_identity.access.codes import new_code, printed
from bilet_identity.domain.snils import generate
from bilet_identity.settings import IdentitySettings

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

REDEEM = "/identity/v1/binding-codes/redemption"


def _snils(seed: int) -> str:
    return generate(random.Random(seed)).formatted


def class_codes_url(school: UUID) -> str:
    return f"/identity/v1/schools/{school}/binding-codes"


async def registered(api: "Api", world: "World", snils: str, **fields: Any) -> str:
    body = world.pupil(snils=snils, **fields)
    response = await api.client.post(
        "/identity/v1/participants", headers=api.registrar(), json=body
    )
    assert response.status_code == 201, response.text
    participant_id: str = response.json()["participant_id"]
    return participant_id


async def class_7b(api: "Api", world: "World") -> tuple[str, str, str]:
    """Two pupils of 7«Б» and one of 7«А» at school 3."""
    first = await registered(api, world, "112-233-445 95", class_letter="Б")
    second = await registered(
        api,
        world,
        _snils(2),
        last_name="Иванов",
        first_name="Пётр",
        class_letter="Б",
        middle_name=None,
        birth_date="2007-02-01",
    )
    other = await registered(
        api,
        world,
        _snils(3),
        last_name="Петрова",
        first_name="Анна",
        class_letter="А",
        birth_date="2007-03-03",
    )
    return first, second, other


async def codes_of(api: "Api", world: "World", letter: str = "Б") -> dict[str, str]:
    response = await api.client.post(
        class_codes_url(world.school_3),
        headers=api.registrar(),
        json={"grade": 7, "class_letter": letter},
    )
    assert response.status_code == 201, response.text
    return {row["participant_id"]: row["code"] for row in response.json()["codes"]}


def pupil(api: "Api", subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.signer.mint(Role.PUPIL, subject=subject)}"}


def guardian(api: "Api", subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.signer.mint(Role.GUARDIAN, subject=subject)}"}


def directory(api: "Api") -> AccountDirectory:
    return AccountDirectory(api.service)


async def test_a_registrar_prints_codes_for_a_class_of_their_school(
    api: "Api", world: "World"
) -> None:
    first, second, _other = await class_7b(api, world)

    response = await api.client.post(
        class_codes_url(world.school_3),
        headers=api.registrar(),
        json={"grade": 7, "class_letter": "Б"},
    )

    assert response.status_code == 201, response.text
    rows = response.json()["codes"]
    assert {row["participant_id"] for row in rows} == {first, second}
    assert {row["last_name"] for row in rows} == {"Соколова", "Иванов"}
    assert len({row["code"] for row in rows}) == 2
    for row in rows:
        assert len(row["code"]) == 14
        assert row["code"][4] == row["code"][9] == "-"
        assert datetime.fromisoformat(row["expires_at"]) > datetime.now(UTC) + timedelta(days=13)
    printable = await api.client.post(
        class_codes_url(world.school_3) + "?format=csv",
        headers=api.registrar(),
        json={"grade": 7},
    )
    assert printable.status_code == 201
    assert printable.headers["content-type"].startswith("text/csv")
    lines = printable.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "Фамилия;Имя;Отчество;Класс;Код;Действует до"
    assert len(lines) == 4  # the whole grade: 7«А» too
    assert any(line.startswith("Петрова;Анна;Андреевна;7А;") for line in lines)
    # Only keyed hashes are kept: no code is in the store.
    every_code = [row["code"] for row in rows] + [line.split(";")[4] for line in lines[1:]]
    records = await api.service.store.read_all(0, 10_000)
    stored = "".join(bytes(record.data).decode() for record in records)
    for code in every_code:
        assert code not in stored
        assert code.replace("-", "") not in stored


async def test_only_the_schools_registrar_issues_its_codes(api: "Api", world: "World") -> None:
    await class_7b(api, world)
    url = class_codes_url(world.school_3)
    body = {"grade": 7, "class_letter": "Б"}
    for headers in (
        api.registrar(world.school_5),
        api.token(Role.NAVIGATOR, school=str(world.school_3)),
        api.token(Role.COORDINATOR, region=str(world.leningrad)),
        pupil(api, "pupil-x"),
        api.token(Role.OPERATOR),
    ):
        response = await api.client.post(url, headers=headers, json=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    unknown = await api.client.post(
        class_codes_url(world.unregistered_school),
        headers=api.registrar(world.unregistered_school),
        json=body,
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "school_not_found"
    for bad in ({"grade": 12}, {"grade": 7, "class_letter": "b"}, {"grade": 7, "extra": 1}):
        refused = await api.client.post(url, headers=api.registrar(), json=bad)
        assert refused.status_code == 422, bad


async def test_a_pupil_binds_their_own_account_once_by_their_code(
    api: "Api", world: "World"
) -> None:
    first, second, _ = await class_7b(api, world)
    codes = await codes_of(api, world)

    typed = codes[first].lower().replace("-", " ")
    response = await api.client.post(REDEEM, headers=pupil(api, "sub-dasha"), json={"code": typed})

    assert response.status_code == 200, response.text
    assert response.json() == {"participant_id": first, "purpose": "pupil"}
    assert await directory(api).participant_of("sub-dasha") == first
    assert await directory(api).children_of("sub-dasha") == frozenset()
    assert await directory(api).participant_of("sub-someone-else") is None
    trail = await api.service.store.read_all(0, 10_000, categories=[AUDIT_CATEGORY])
    binding = [e for e in trail if b"bind_account" in bytes(e.data)]
    assert len(binding) == 1
    assert first.encode() in bytes(binding[0].data)
    assert b"sub-dasha" in bytes(binding[0].data)
    # Single use: nobody binds by it again, the pupil themself included (nothing changes).
    for subject in ("sub-dasha", "sub-stranger"):
        again = await api.client.post(REDEEM, headers=pupil(api, subject), json={"code": typed})
        assert again.status_code == 409
        assert again.json()["code"] == "binding_code_used"
    # The account is Dasha's: another pupil's code does not make it Pyotr's.
    other = await api.client.post(
        REDEEM, headers=pupil(api, "sub-dasha"), json={"code": codes[second]}
    )
    assert other.status_code == 409
    assert other.json()["code"] == "account_already_bound"
    assert await directory(api).participant_of("sub-dasha") == first
    # Pyotr's code was not used up by the refusal.
    pyotr = await api.client.post(
        REDEEM, headers=pupil(api, "sub-pyotr"), json={"code": codes[second]}
    )
    assert pyotr.status_code == 200


async def test_staff_cannot_redeem_and_expired_or_malformed_codes_bind_nothing(
    api: "Api", world: "World"
) -> None:
    first, _, _ = await class_7b(api, world)
    codes = await codes_of(api, world)
    for headers in (api.registrar(), api.token(Role.OPERATOR)):
        refused = await api.client.post(REDEEM, headers=headers, json={"code": codes[first]})
        assert refused.status_code == 403
    malformed = await api.client.post(REDEEM, headers=pupil(api, "sub-a"), json={"code": "1234"})
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid_request"
    as_guardian = await api.client.post(
        REDEEM, headers=guardian(api, "sub-g"), json={"code": codes[first]}
    )
    assert as_guardian.status_code == 422
    assert as_guardian.json()["code"] == "wrong_code_purpose"

    bindings = api.app.state.account_bindings
    bindings.clock = lambda: datetime.now(UTC) + timedelta(days=15)
    expired = await api.client.post(
        REDEEM, headers=pupil(api, "sub-a"), json={"code": codes[first]}
    )

    assert expired.status_code == 422
    assert expired.json()["code"] == "binding_code_expired"
    assert await directory(api).participant_of("sub-a") is None


async def test_guessing_codes_is_limited_and_even_the_right_code_fails_while_limited(
    api: "Api", world: "World"
) -> None:
    first, _, _ = await class_7b(api, world)
    right = (await codes_of(api, world))[first]
    attacker = pupil(api, "sub-attacker")
    answers = []
    for _ in range(20):
        guess = printed(new_code())
        response = await api.client.post(REDEEM, headers=attacker, json={"code": guess})
        answers.append(response)
    statuses = [response.status_code for response in answers]
    assert statuses[:5] == [422] * 5
    assert all(answer.json()["code"] == "invalid_binding_code" for answer in answers[:5])
    assert statuses[5:] == [429] * 15
    limited = answers[-1]
    assert limited.json()["code"] == "too_many_attempts"
    assert 0 < int(limited.headers["Retry-After"]) <= 900

    with_right_code = await api.client.post(REDEEM, headers=attacker, json={"code": right})

    assert with_right_code.status_code == 429
    assert await directory(api).participant_of("sub-attacker") is None
    # Fresh accounts from the same source are stopped by the source's count.
    fresh = [pupil(api, f"sub-sock-{n}") for n in range(30)]
    for headers in fresh:
        await api.client.post(REDEEM, headers=headers, json={"code": printed(new_code())})
    last = await api.client.post(REDEEM, headers=pupil(api, "sub-sock-new"), json={"code": right})
    assert last.status_code == 429
    # The pupil whose code it is binds it once the source's window is over (another address).
    bindings = api.app.state.account_bindings
    bindings.limiter.clock = lambda: 10.0**9
    mine = await api.client.post(REDEEM, headers=pupil(api, "sub-dasha"), json={"code": right})
    assert mine.status_code == 200


def _submitted(pid: UUID, consent_id: UUID) -> ConsentSubmitted:
    return ConsentSubmitted(
        participant_id=pid,
        consent_id=consent_id,
        school_id=uuid4(),
        document_id=uuid4(),
        form_version="2019-1",
        purposes=tuple(Purpose),
        signed_on=date.today(),
        valid_until=date.today() + timedelta(days=365),
        guardian_id=uuid4(),
        relationship=Relationship.PARENT,
        guardian_full_name=SealedValue.model_validate(sealed("guardian_full_name")),
        guardian_passport=SealedValue.model_validate(sealed("guardian_passport")),
    )


async def _applied(api: "Api", token: str) -> None:
    consents = api.service.consents
    assert consents is not None  # the app follows consent's stream
    await consents.await_tokens(parse_position_tokens(token))


async def _guardian_code(api: "Api", pid: str, consent_id: UUID, headers: dict[str, str]) -> Any:
    return await api.client.post(
        f"/identity/v1/participants/{pid}/guardian-codes",
        headers=headers,
        json={"consent_id": str(consent_id)},
    )


async def _guardian_bound(api: "Api", pid: str, consent_id: UUID, subject: str) -> None:
    issued = await _guardian_code(api, pid, consent_id, api.token(Role.OPERATOR))
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    redeemed = await api.client.post(REDEEM, headers=guardian(api, subject), json={"code": code})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"participant_id": pid, "purpose": "guardian"}


async def test_a_guardian_is_entitled_only_after_verification_and_loses_it_on_withdrawal(
    api: "Api", world: "World"
) -> None:
    pid = await registered(api, world, "112-233-445 95")
    consent_id = uuid4()
    await _applied(api, await api.consent_recorded(pid, _submitted(UUID(pid), consent_id)))
    await _guardian_bound(api, pid, consent_id, "sub-mother")

    # Pending: the code was redeemed, but nothing is verified yet.
    assert await directory(api).children_of("sub-mother") == frozenset()
    assert await directory(api).participant_of("sub-mother") is None

    await _applied(api, await api.consent_verified(pid, consent_id=consent_id))
    assert await directory(api).children_of("sub-mother") == {pid}
    assert await directory(api).children_of("sub-stranger") == frozenset()

    withdrawn = ConsentWithdrawn(
        participant_id=UUID(pid),
        consent_id=consent_id,
        withdrawn_on=date.today(),
        erase_by=date.today() + timedelta(days=30),
    )
    await _applied(api, await api.consent_recorded(pid, withdrawn))
    assert await directory(api).children_of("sub-mother") == frozenset()


async def test_a_rejected_consent_or_an_erasure_entitles_nobody(api: "Api", world: "World") -> None:
    rejected_pid = await registered(api, world, "112-233-445 95")
    rejected_consent = uuid4()
    await _applied(
        api,
        await api.consent_recorded(rejected_pid, _submitted(UUID(rejected_pid), rejected_consent)),
    )
    await _guardian_bound(api, rejected_pid, rejected_consent, "sub-father")
    rejection = ConsentRejected(
        participant_id=UUID(rejected_pid),
        consent_id=rejected_consent,
        reasons=(RejectionReason.SIGNATURE_MISSING,),
    )
    await _applied(api, await api.consent_recorded(rejected_pid, rejection))
    assert await directory(api).children_of("sub-father") == frozenset()
    # No new code for a rejected consent either.
    again = await _guardian_code(api, rejected_pid, rejected_consent, api.token(Role.OPERATOR))
    assert again.status_code == 404
    assert again.json()["code"] == "unknown_consent"

    erased_pid = await registered(
        api, world, _snils(2), birth_date="2007-02-01", first_name="Ольга", class_letter="Г"
    )
    erased_consent = uuid4()
    await _applied(api, await api.consent_verified(erased_pid, consent_id=erased_consent))
    await _guardian_bound(api, erased_pid, erased_consent, "sub-aunt")
    assert await directory(api).children_of("sub-aunt") == {erased_pid}
    olga_code = (await codes_of(api, world, letter="Г"))[erased_pid]
    olga = await api.client.post(REDEEM, headers=pupil(api, "sub-olga"), json={"code": olga_code})
    assert olga.status_code == 200, olga.text
    assert await directory(api).participant_of("sub-olga") == erased_pid
    erased = ParticipantErased(
        participant_id=UUID(erased_pid),
        reason=ErasureReason.CONSENT_WITHDRAWN,
        erased_at=datetime.now(UTC),
        destruction_record_id=uuid4(),
    )
    await _applied(api, await api.consent_recorded(erased_pid, erased))
    assert await directory(api).children_of("sub-aunt") == frozenset()
    assert await directory(api).participant_of("sub-olga") is None


async def test_only_a_consents_verifiers_issue_the_guardians_code(
    api: "Api", world: "World"
) -> None:
    pid = await registered(api, world, "112-233-445 95")
    consent_id = uuid4()
    await _applied(api, await api.consent_recorded(pid, _submitted(UUID(pid), consent_id)))
    for headers in (
        api.registrar(),
        guardian(api, "sub-mother"),
        api.token(Role.NAVIGATOR, school=str(world.school_3)),
    ):
        refused = await _guardian_code(api, pid, consent_id, headers)
        assert refused.status_code == 403, refused.text
    outside = await _guardian_code(
        api, pid, consent_id, api.token(Role.COORDINATOR, region=str(world.spb))
    )
    assert outside.status_code == 404
    assert outside.json()["code"] == "unknown_participant"
    other_consent = await _guardian_code(api, pid, uuid4(), api.token(Role.OPERATOR))
    assert other_consent.status_code == 404
    assert other_consent.json()["code"] == "unknown_consent"
    coordinator = await _guardian_code(
        api, pid, consent_id, api.token(Role.COORDINATOR, region=str(world.leningrad))
    )
    assert coordinator.status_code == 201, coordinator.text
    # A guardian's code is not a pupil's.
    assert coordinator.json()["expires_at"]
    as_pupil = await api.client.post(
        REDEEM, headers=pupil(api, "sub-kid"), json={"code": coordinator.json()["code"]}
    )
    assert as_pupil.status_code == 422
    assert as_pupil.json()["code"] == "wrong_code_purpose"


async def _claims(api: "Api", subject: str) -> Any:
    provider = api.token(Role.IDENTITY_PROVIDER, subject="keycloak")
    return await api.client.get(f"/identity/v1/accounts/{subject}/claims", headers=provider)


async def test_the_identity_providers_claims_follow_the_bindings_and_the_consent(
    api: "Api", world: "World"
) -> None:
    first, _, _ = await class_7b(api, world)
    code = (await codes_of(api, world))[first]
    assert (await _claims(api, "sub-dasha")).status_code == 404  # nothing bound yet
    await api.client.post(REDEEM, headers=pupil(api, "sub-dasha"), json={"code": code})

    dasha = await _claims(api, "sub-dasha")

    assert dasha.status_code == 200, dasha.text
    assert (dasha.json()["role"], dasha.json()["participant"]) == ("pupil", first)
    consent_id = uuid4()
    await _applied(api, await api.consent_recorded(first, _submitted(UUID(first), consent_id)))
    await _guardian_bound(api, first, consent_id, "sub-mother")
    assert (await _claims(api, "sub-mother")).status_code == 404  # pending: no children yet
    await _applied(api, await api.consent_verified(first, consent_id=consent_id))
    mother = await _claims(api, "sub-mother")
    assert mother.status_code == 200, mother.text
    assert (mother.json()["role"], mother.json()["children"]) == ("guardian", [first])
    # A token minted from exactly those claims reads the child.
    token = api.token(Role.GUARDIAN, subject="sub-mother", children=mother.json()["children"])
    shown = await api.client.get(f"/identity/v1/participants/{first}", headers=token)
    assert shown.status_code == 200, shown.text

    withdrawn = ConsentWithdrawn(
        participant_id=UUID(first),
        consent_id=consent_id,
        withdrawn_on=date.today(),
        erase_by=date.today() + timedelta(days=30),
    )
    await _applied(api, await api.consent_recorded(first, withdrawn))
    after = await _claims(api, "sub-mother")
    assert (after.status_code, after.json()["code"]) == (404, "no_claims")


async def test_a_pupils_account_follows_their_profile_when_a_duplicate_is_merged(
    api: "Api", world: "World"
) -> None:
    kept = await registered(api, world, "112-233-445 95")
    # The child, moved to school 5, was registered there anew under a mistyped СНИЛС, and got a
    # code of that second profile; school 5 then typed the right СНИЛС: a review.
    school_5 = api.registrar(world.school_5)
    second = world.pupil(snils=_snils(43), class_letter="Д")
    duplicate = await api.client.post("/identity/v1/participants", headers=school_5, json=second)
    assert duplicate.status_code == 201, duplicate.text
    duplicate_id = duplicate.json()["participant_id"]
    listed = await api.client.post(
        class_codes_url(world.school_5), headers=school_5, json={"grade": 7, "class_letter": "Д"}
    )
    [row] = listed.json()["codes"]
    redeemed = await api.client.post(
        REDEEM, headers=pupil(api, "sub-d"), json={"code": row["code"]}
    )
    assert redeemed.status_code == 200, redeemed.text
    assert await directory(api).participant_of("sub-d") == duplicate_id
    clash = await api.client.post(
        "/identity/v1/participants", headers=school_5, json=world.pupil(first_name="Дарина")
    )
    assert clash.json()["code"] == "duplicate_needs_review"
    operator = api.token(Role.OPERATOR)
    [review] = (await api.client.get("/identity/v1/duplicate-reviews", headers=operator)).json()

    resolved = await api.client.post(
        f"/identity/v1/duplicate-reviews/{review['review_id']}/resolution",
        headers=operator,
        json={"outcome": "same_child", "duplicate_participant_id": duplicate_id},
    )

    assert resolved.status_code == 200, resolved.text
    assert await directory(api).participant_of("sub-d") == kept


async def test_guardians_codes_are_off_in_production_unless_turned_on(
    api: "Api", world: "World"
) -> None:
    assert IdentitySettings().guardian_codes_enabled
    assert not IdentitySettings(environment="production").guardian_codes_enabled
    assert IdentitySettings(
        environment="production", identity_guardian_codes=True
    ).guardian_codes_enabled
    pid = await registered(api, world, "112-233-445 95")
    consent_id = uuid4()
    await _applied(api, await api.consent_recorded(pid, _submitted(UUID(pid), consent_id)))
    api.app.state.account_bindings.guardian_codes = False

    refused = await _guardian_code(api, pid, consent_id, api.token(Role.OPERATOR))

    assert refused.status_code == 403
    assert refused.json()["code"] == "guardian_codes_off"
