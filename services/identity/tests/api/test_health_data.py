"""Health data is a category apart (ARCHITECTURE §8, docs/adr/0017, 0019): the health limitations
and the accessibility needs are sealed with the participant's health key, in what is stored and
in what goes to Kafka; they are shown only to a role that needs them and only while a verified
consent in force covers `health_data`; support never sees them; destroying the health key
destroys them alone, and an erasure (both keys) destroys everything personal."""

from typing import TYPE_CHECKING

from bilet.contracts.cloudevents import to_record
from bilet.http import Role

if TYPE_CHECKING:
    from services.identity.tests.conftest import Api, World

# What the registration below says of the child's health: none of it may be readable.
HEALTH_WORDS = (b"step_free_access", b"sign_language_interpreter", b"musculoskeletal")


async def _registered(api: "Api") -> str:
    """A pupil with health data, and a verified consent covering `health_data`, applied by
    identity's read model before this returns (health data is shown only under it)."""
    participant_id = await api.registered_with_health()
    token = await api.consent_verified(participant_id)
    await api.shown(participant_id, api.registrar(), token)
    return participant_id


async def _published_bytes(api: "Api", participant_id: str) -> bytes:
    """Every byte of the participant's published events, as stored and as the relay sends them
    to Kafka (value and CloudEvents headers)."""
    out = b""
    for record in await api.service.store.read_stream(f"participant-{participant_id}"):
        kafka = to_record(record, "identity")
        out += record.data + record.metadata + kafka.value
        out += b"".join(value for _, value in kafka.headers)
    return out


async def test_the_published_events_carry_no_readable_health_data(api: "Api") -> None:
    pid = await _registered(api)
    corrected = await api.client.patch(
        f"/identity/v1/participants/{pid}",
        headers=api.registrar(),
        json={
            "reason": "health_status_changed",
            "accessibility_needs": ["sign_language_interpreter"],
        },
    )
    assert corrected.status_code == 200, corrected.text

    published = await _published_bytes(api, pid)

    for word in HEALTH_WORDS:
        assert word not in published
    # The registrar of the school still reads what was stated, from the sealed events.
    shown = await api.shown(pid, api.registrar())
    assert shown["personal"]["accessibility_needs"] == ["sign_language_interpreter"]
    assert shown["personal"]["health_limitations"]["kind"] == "musculoskeletal"


async def test_support_and_other_roles_without_the_need_see_no_health_data(
    api: "Api", world: "World"
) -> None:
    pid = await _registered(api)  # under a consent that covers health data
    for headers in (
        api.token(Role.SUPPORT),
        api.token(Role.OPERATOR),
        api.token(Role.NAVIGATOR, school=str(world.school_3)),
        api.token(Role.COORDINATOR, region=str(world.leningrad)),
    ):
        response = await api.client.get(f"/identity/v1/participants/{pid}", headers=headers)
        assert response.status_code == 200, response.text
        for word in HEALTH_WORDS:
            assert word.decode() not in response.text
        personal = response.json()["personal"]
        if personal is not None:
            assert personal["health_withheld"] == "not_needed_by_role"
    # A control: the words match what the registrar of the school is shown.
    assert "step_free_access" in str(await api.shown(pid, api.registrar()))
    support = await api.shown(pid, api.token(Role.SUPPORT))
    assert support.get("accessibility_needs") is None
    assert support["personal"] is None


async def test_given_the_health_key_destroyed_then_only_health_data_reads_as_erased(
    api: "Api",
) -> None:
    pid = await _registered(api)

    # What consent's destruction does when only the consent to process health data is withdrawn.
    await api.service.cipher.erase(f"health:{pid}")

    shown = await api.shown(pid, api.registrar())
    assert shown["erased"] is False
    personal = shown["personal"]
    assert (personal["last_name"], personal["snils"]) == ("Соколова", "112-233-445 95")
    assert personal["health_limitations"] is None
    assert personal["accessibility_needs"] is None
    assert personal["health_erased"] is True
    for word in HEALTH_WORDS:
        assert word.decode() not in str(shown)


async def test_given_the_health_key_destroyed_then_no_health_data_is_recorded_again(
    api: "Api",
) -> None:
    pid = await _registered(api)
    await api.service.cipher.erase(f"health:{pid}")
    url = f"/identity/v1/participants/{pid}"

    refused = await api.client.patch(
        url,
        headers=api.registrar(),
        json={"reason": "health_status_changed", "accessibility_needs": ["large_print"]},
    )

    assert refused.status_code == 409, refused.text
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "health_data_withdrawn"
    assert (await api.shown(pid, api.registrar()))["version"] == 0  # nothing changed
    # Everything else is still corrected as before.
    renamed = await api.client.patch(url, headers=api.registrar(), json={"last_name": "Громова"})
    assert renamed.status_code == 200, renamed.text


async def test_given_an_erasure_then_personal_and_health_data_are_both_gone(api: "Api") -> None:
    pid = await _registered(api)

    # What consent's destruction does on a whole erasure: both keys.
    await api.service.cipher.erase(pid)
    await api.service.cipher.erase(f"health:{pid}")

    for headers in (api.registrar(), api.token(Role.OPERATOR), api.token(Role.SUPPORT)):
        response = await api.client.get(f"/identity/v1/participants/{pid}", headers=headers)
        assert response.status_code == 200, response.text
        for word in (*HEALTH_WORDS, "Соколова".encode(), b"112-233-445"):
            assert word.decode() not in response.text
    assert (await api.shown(pid, api.registrar()))["erased"] is True
