"""The cache of rendered portfolios (ADR 0025) through the API: a repeated read is answered from
it and still audited, and it never answers for a state or a caller it was not rendered for —
after the participant's erasure, after a consent change, for another role. Where commits are
heard, the participant's row is kept between them (ADR 0080), and dropped by the commit that
changes it."""

import json
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bilet.audit import AUDIT_CATEGORY
from bilet.http import Role
from bilet.http.consistency import PositionToken
from bilet_portfolio.application.view_cache import ViewCache

if TYPE_CHECKING:
    from services.portfolio.tests.conftest import Ids, SecondApi, Service


def url(pid: UUID) -> str:
    return f"/portfolio/v1/participants/{pid}"


def views(service: "Service") -> ViewCache:
    cache: ViewCache = service.app.state.portfolio.views
    return cache


async def read(service: "Service", pid: UUID, headers: dict[str, str]) -> Any:
    answer = await service.client.get(url(pid), headers=headers)
    assert answer.status_code == 200, answer.text
    return answer


async def audited_reads(service: "Service", actor: str) -> list[dict[str, Any]]:
    store = service.app.state.audit_store
    records = [
        json.loads(event.data)
        for event in await store.read_all(0, 1000)
        if event.stream_id.startswith(f"{AUDIT_CATEGORY}-")
    ]
    return [record for record in records if record["actor"] == actor]


async def test_a_repeated_read_is_the_same_answer_from_the_cache_and_audited_again(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("repeats")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3), subject="nav-r")
    first = await read(service, pid, navigator)
    assert len(views(service)) == 1
    second = await read(service, pid, navigator)
    assert second.content == first.content
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["content-type"] == "application/json"
    assert len(views(service)) == 1  # answered from the entry the first read left
    reads = await audited_reads(service, "nav-r")
    assert [(r["purpose"], r["subject"], r["fields"]) for r in reads] == [
        ("portfolio_view", str(pid), ["portfolio", "full_name"]),
        ("portfolio_view", str(pid), ["portfolio", "full_name"]),
    ]


async def test_two_roles_never_get_each_others_cached_view(service: "Service", ids: "Ids") -> None:
    pid = await service.pupil_with_consent("two-roles")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    operator = service.token(Role.OPERATOR)
    registrar = service.token(Role.REGISTRAR, school=str(ids.school_3))
    coordinator = service.token(Role.COORDINATOR, region=str(ids.leningrad))
    # Each role twice, in turns: the second read of each may come from the cache.
    for _ in range(2):
        named = (await read(service, pid, navigator)).json()
        assert named["display_name"]["first_name"] == "Дарья"
        unnamed = (await read(service, pid, operator)).json()
        assert unnamed["display_name"] is None
        assert unnamed["open"] is True
        consent_only = (await read(service, pid, registrar)).json()
        assert consent_only["display_name"] is None
        assert consent_only["diagnostics"] == []
        assert consent_only["consent"]["state"] == "verified"
        region = (await read(service, pid, coordinator)).json()
        assert region["display_name"]["first_name"] == "Дарья"
    assert len(views(service)) == 4  # one answer per scope, none shared


async def test_a_cached_view_is_never_served_after_the_key_is_destroyed(
    service: "Service",
) -> None:
    pid = await service.pupil_with_consent("shredded")
    pupil = service.token(Role.PUPIL, participant=str(pid))
    before = await read(service, pid, pupil)
    assert before.json()["display_name"]["last_name"] == "Соколова"
    # Another component of the suite destroys the key (identity's erasure, crypto-shredding):
    # the participant's row has not changed yet, only the key store knows.
    assert await service.keys.erase(str(pid))
    after = await read(service, pid, pupil)
    assert after.json()["display_name"] == {
        "erased": True,
        "last_name": None,
        "first_name": None,
        "patronymic": None,
    }
    assert "Соколова".encode() not in after.content
    assert after.headers["ETag"] != before.headers["ETag"]


async def test_a_cached_view_is_never_served_after_the_participant_is_erased(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("forgotten")
    pupil = service.token(Role.PUPIL, participant=str(pid))
    await read(service, pid, pupil)
    await read(service, pid, pupil)
    c = service.catalogue
    await service.append(c.withdrawn(pid, ids.uid("consent:forgotten")), c.erased(pid))
    await service.settle()
    gone = await service.client.get(url(pid), headers=pupil)
    assert gone.status_code == 410
    assert gone.json()["code"] == "participant_erased"
    assert len(views(service)) == 0  # nothing of theirs is kept


async def test_a_consent_change_is_never_answered_from_the_cache(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("changes-mind")
    guardian = service.token(Role.GUARDIAN, children=[str(pid)])
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    for headers in (guardian, navigator, guardian, navigator):
        assert (await read(service, pid, headers)).json()["open"] is True
    c = service.catalogue
    await service.append(c.withdrawn(pid, ids.uid("consent:changes-mind")))
    await service.settle()
    refused = await service.client.get(url(pid), headers=guardian)
    assert refused.status_code == 403
    assert refused.json()["code"] == "consent_required"
    school = (await read(service, pid, navigator)).json()
    assert school["open"] is False
    assert school["consent"]["state"] == "withdrawn"
    assert school["display_name"] is None
    assert school["diagnostics"] == []


async def test_an_erasure_drops_the_participants_answers_when_it_commits_before_any_read(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("dropped-at-once")
    other = await service.pupil_with_consent("stays-cached")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    for each in (pid, other):
        await read(service, each, navigator)
    pupil = service.token(Role.PUPIL, participant=str(pid))
    await read(service, pid, pupil)
    assert views(service).participants() == {str(pid), str(other)}
    c = service.catalogue
    await service.append(c.withdrawn(pid, ids.uid("consent:dropped-at-once")), c.erased(pid))
    await service.settle()
    # No read has looked at the participant since: the commit itself dropped their answers,
    # the opened name and comments with them.
    assert views(service).participants() == {str(other)}
    gone = await service.client.get(url(pid), headers=pupil)
    assert gone.status_code == 410
    assert gone.json()["code"] == "participant_erased"
    assert views(service).participants() == {str(other)}


async def test_a_read_after_a_change_is_fresh_and_the_older_answer_is_dropped(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("corrected")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    before = await read(service, pid, navigator)
    assert before.json()["grade"] == 7
    await service.append(await service.catalogue.corrected(pid, grade=8))
    await service.settle()
    assert str(pid) not in views(service).participants()  # dropped by the commit
    after = await read(service, pid, navigator)
    assert after.json()["grade"] == 8
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = await service.client.get(
        url(pid), headers={**navigator, "If-None-Match": before.headers["ETag"]}
    )
    assert stale.status_code == 200
    assert stale.json()["grade"] == 8
    assert len(views(service)) == 1  # the new answer only


async def test_not_modified_is_answered_from_the_tag_without_rendering_or_caching(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("not-modified")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3), subject="nav-304")
    etag = (await read(service, pid, navigator)).headers["ETag"]
    views(service).changed(None)  # an empty cache: the 304 needs nothing of it
    unchanged = await service.client.get(url(pid), headers={**navigator, "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    assert len(views(service)) == 0  # nothing was rendered for it
    assert len(await audited_reads(service, "nav-304")) == 1  # the 200 only: a 304 shows nothing


async def test_two_callers_of_different_views_never_share_an_entry(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("two-views")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    operator = service.token(Role.OPERATOR)
    named = await read(service, pid, navigator)
    unnamed = await read(service, pid, operator)
    assert named.headers["ETag"] != unnamed.headers["ETag"]
    # The navigator's tag sent by the operator is no match: the operator's own body comes back.
    crossed = await service.client.get(
        url(pid), headers={**operator, "If-None-Match": named.headers["ETag"]}
    )
    assert crossed.status_code == 200
    assert crossed.content == unnamed.content
    assert "Соколова".encode() not in crossed.content
    assert "Соколова".encode() in named.content


async def test_a_cache_size_of_zero_renders_every_read(
    service: "Service", ids: "Ids", second_api: "SecondApi"
) -> None:
    pid = await service.pupil_with_consent("uncached")
    # A second API over the same files, its cache turned off by the setting.
    async with second_api(portfolio_view_cache_size=0) as (api, client):
        navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3), subject="nav-0")
        answers = [await client.get(url(pid), headers=navigator) for _ in range(2)]
        assert [answer.status_code for answer in answers] == [200, 200]
        assert answers[0].content == answers[1].content
        assert answers[0].json()["display_name"]["last_name"] == "Соколова"
        assert len(api.state.portfolio.views) == 0
        assert len(await audited_reads(service, "nav-0")) == 2


async def test_a_read_that_cannot_listen_for_changes_is_answered_and_not_kept(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("deaf")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))

    async def lost() -> None:
        raise OSError("the listening connection cannot be opened")

    service.app.state.portfolio.reader.hear_changes = lost
    answer = await read(service, pid, navigator)
    assert answer.json()["display_name"]["last_name"] == "Соколова"
    assert str(pid) not in views(service).participants()
    assert str(pid) not in views(service).rows()  # nor the row: a change might go unheard


# ---------------------------------------------------------------------- the participants' rows
def count_row_reads(service: "Service") -> list[str]:
    """The participants whose row the queries read from the read model, in order (the reader
    itself still reads: it is only counted)."""
    reader = service.app.state.portfolio.reader
    read = reader.participant
    seen: list[str] = []

    async def counted(participant_id: str) -> Any:
        seen.append(participant_id)
        return await read(participant_id)

    reader.participant = counted
    return seen


async def test_repeated_not_modified_reads_read_the_row_once(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("polled")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3), subject="nav-poll")
    etag = (await read(service, pid, navigator)).headers["ETag"]
    row_reads = count_row_reads(service)
    for _ in range(3):
        unchanged = await service.client.get(url(pid), headers={**navigator, "If-None-Match": etag})
        assert unchanged.status_code == 304
    assert row_reads == []  # the first read kept the row; no commit has changed it since
    assert str(pid) in views(service).rows()


async def test_a_consent_withdrawal_refuses_the_next_not_modified_read_at_once(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("withdraws")
    guardian = service.token(Role.GUARDIAN, children=[str(pid)])
    etag = (await read(service, pid, guardian)).headers["ETag"]
    cached = {**guardian, "If-None-Match": etag}
    assert (await service.client.get(url(pid), headers=cached)).status_code == 304
    await service.append(service.catalogue.withdrawn(pid, ids.uid("consent:withdraws")))
    await service.settle()
    assert str(pid) not in views(service).rows()  # the commit dropped the kept row
    refused = await service.client.get(url(pid), headers=cached)
    assert refused.status_code == 403
    assert refused.json()["code"] == "consent_required"


async def test_an_erasure_refuses_the_next_not_modified_read_at_once(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("erased-while-polled")
    pupil = service.token(Role.PUPIL, participant=str(pid))
    etag = (await read(service, pid, pupil)).headers["ETag"]
    cached = {**pupil, "If-None-Match": etag}
    assert (await service.client.get(url(pid), headers=cached)).status_code == 304
    c = service.catalogue
    await service.append(c.withdrawn(pid, ids.uid("consent:erased-while-polled")), c.erased(pid))
    await service.settle()
    assert str(pid) not in views(service).rows()
    gone = await service.client.get(url(pid), headers=cached)
    assert gone.status_code == 410
    assert gone.json()["code"] == "participant_erased"


async def test_a_read_that_waited_for_a_write_reads_the_row_itself(
    service: "Service", ids: "Ids"
) -> None:
    pid = await service.pupil_with_consent("reads-own-write")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    await read(service, pid, navigator)
    before = views(service).row(str(pid))
    assert before is not None
    result = await service.append(await service.catalogue.corrected(pid, grade=9))
    await service.settle()
    # As on PostgreSQL when the write's notice is still on its way to this API process: the
    # row kept is the one before the write.
    assert views(service).keep_row(str(pid), before, views(service).ticket())
    written = PositionToken("identity", result.position, result.stream_id).encode()
    row_reads = count_row_reads(service)
    answer = await read(service, pid, {**navigator, "BVB-Position": written})
    assert answer.json()["grade"] == 9
    assert row_reads == [str(pid)]  # the row itself, not the kept one


async def test_an_api_that_cannot_hear_the_commits_keeps_no_row(
    service: "Service", ids: "Ids", second_api: "SecondApi"
) -> None:
    pid = await service.pupil_with_consent("fed-elsewhere")
    guardian = service.token(Role.GUARDIAN, children=[str(pid)])
    # A second API over the same files, fed by another process (here: the first one's feed).
    async with second_api() as (api, client):
        etag = (await client.get(url(pid), headers=guardian)).headers["ETag"]
        cached = {**guardian, "If-None-Match": etag}
        assert (await client.get(url(pid), headers=cached)).status_code == 304
        assert api.state.portfolio.views.rows() == set()
        await service.append(service.catalogue.withdrawn(pid, ids.uid("consent:fed-elsewhere")))
        await service.settle()
        refused = await client.get(url(pid), headers=cached)
        assert refused.status_code == 403
        assert refused.json()["code"] == "consent_required"


async def test_an_answer_from_the_cache_carries_the_current_requests_correlation_id(
    service: "Service", ids: "Ids"
) -> None:
    # The cache keeps rendered views, and the frame adds the id to each answer as it leaves: a
    # repeated read, and its 304, quote the request that asked, never the one that filled it.
    pid = await service.pupil_with_consent("quotes")
    navigator = service.token(Role.NAVIGATOR, school=str(ids.school_3))
    first = await read(service, pid, {**navigator, "X-Correlation-Id": "req-first"})
    second = await read(service, pid, {**navigator, "X-Correlation-Id": "req-second"})
    unchanged = await service.client.get(
        url(pid),
        headers={**navigator, "If-None-Match": first.headers["ETag"], "X-Correlation-Id": "req-3"},
    )
    assert len(views(service)) == 1
    assert second.content == first.content
    assert unchanged.status_code == 304
    assert first.headers.get_list("X-Correlation-Id") == ["req-first"]
    assert second.headers.get_list("X-Correlation-Id") == ["req-second"]
    assert unchanged.headers.get_list("X-Correlation-Id") == ["req-3"]
