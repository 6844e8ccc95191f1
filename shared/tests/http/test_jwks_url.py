"""An identity provider's JWKS URL, against a real HTTP server on 127.0.0.1 (in a thread of its own,
so a client that blocked the event loop would show as a stalled loop, not as a deadlock).

The keys are fetched once and cached; a new key id (rotation) fetches again, made-up ones at most
once per cooldown; a slow or trickling server is cut off after the deadline and the request
answers 503, never hangs; an outage after a good fetch is ridden out for a bounded time.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter
from jwt.algorithms import OKPAlgorithm

from bilet.http import CurrentPrincipal, Problem, Role, ServiceDescription, create_service_app
from bilet.http.auth import DEVELOPMENT_ISSUER, TokenVerifier
from bilet.http.devkeys import DevelopmentSigner
from bilet.http.jwks import JwksUrl
from bilet.settings import PlatformSettings

TIMEOUT = 0.5


class JwksServer:
    """Serves `document` at /jwks; `delay` holds each answer back, `trickle` sends its body a byte
    at a time, `status` other than 200 answers that status."""

    def __init__(self) -> None:
        self.document: object = {"keys": []}
        self.requests = 0
        self.delay = 0.0
        self.trickle = False
        self.status = 200
        self.released = threading.Event()  # ends every held-back answer at teardown
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                owner.released.wait(owner.delay)
                body = json.dumps(owner.document).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for start in range(0, len(body), 1 if owner.trickle else len(body)):
                    self.wfile.write(body[start : start + (1 if owner.trickle else len(body))])
                    self.wfile.flush()
                    if owner.trickle and owner.released.wait(0.1):
                        return

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep the test output to the tests' own lines

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"

    def publish(self, *signers: DevelopmentSigner) -> None:
        self.document = {"keys": [_jwk(signer) for signer in signers]}


def _jwk(signer: DevelopmentSigner) -> dict[str, str]:
    public = json.loads(OKPAlgorithm.to_jwk(signer.key.public_key()))
    return {**public, "kid": signer.key_id, "alg": "EdDSA", "use": "sig"}


def signer(key_id: str) -> DevelopmentSigner:
    return DevelopmentSigner(Ed25519PrivateKey.generate(), key_id, Path("unused"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[JwksServer]:
    jwks = JwksServer()
    thread = threading.Thread(target=jwks.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield jwks
    jwks.released.set()
    jwks.server.shutdown()
    jwks.server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier_of(keys: JwksUrl) -> TokenVerifier:
    # remember=0: every call goes to the key source, which is what these tests watch.
    return TokenVerifier(keys, issuer=DEVELOPMENT_ISSUER, audience="bilet", remember=0)


async def test_the_key_set_is_fetched_once_and_cached_for_its_lifespan(
    server: JwksServer, clock: Clock
) -> None:
    first = signer("k1")
    server.publish(first)
    tokens = verifier_of(JwksUrl(server.url, lifespan=300, clock=clock))
    for subject in ("a", "b", "c"):
        principal = await tokens.authenticate(first.mint(Role.PUPIL, subject=subject))
        assert principal.subject == subject
    assert server.requests == 1
    clock.now += 301
    await tokens.authenticate(first.mint(Role.PUPIL))
    assert server.requests == 2


async def test_a_rotated_key_is_fetched_and_the_withdrawn_one_refused(
    server: JwksServer, clock: Clock
) -> None:
    old, new = signer("k1"), signer("k2")
    server.publish(old)
    tokens = TokenVerifier(
        JwksUrl(server.url, cooldown=10, clock=clock), issuer=DEVELOPMENT_ISSUER, audience="bilet"
    )
    remembered = old.mint(Role.PUPIL, subject="before")
    await tokens.authenticate(remembered)
    server.publish(new)  # the identity provider rotates: k2 in, k1 out
    clock.now += 11
    assert (await tokens.authenticate(new.mint(Role.PUPIL, subject="after"))).subject == "after"
    assert server.requests == 2
    with pytest.raises(Problem) as refused:
        await tokens.authenticate(remembered)  # k1 left the key set: no longer trusted
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")


async def test_an_unchanged_key_keeps_its_tokens_remembered_across_a_refetch(
    server: JwksServer, clock: Clock
) -> None:
    kept = signer("k1")
    server.publish(kept)
    keys = JwksUrl(server.url, lifespan=300, clock=clock)
    tokens = TokenVerifier(keys, issuer=DEVELOPMENT_ISSUER, audience="bilet")
    issued = kept.mint(Role.PUPIL)
    await tokens.authenticate(issued)
    clock.now += 301
    await keys.load("k1")
    assert server.requests == 2
    assert tokens.remembered(issued) is not None


async def test_made_up_key_ids_fetch_at_most_once_per_cooldown(
    server: JwksServer, clock: Clock
) -> None:
    server.publish(signer("k1"))
    tokens = verifier_of(JwksUrl(server.url, cooldown=10, clock=clock))
    for attempt in range(20):
        with pytest.raises(Problem) as refused:
            await tokens.authenticate(signer(f"made-up-{attempt}").mint(Role.PUPIL))
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert server.requests == 1
    clock.now += 10
    with pytest.raises(Problem):
        await tokens.authenticate(signer("made-up-again").mint(Role.PUPIL))
    assert server.requests == 2


async def test_concurrent_requests_on_a_cold_cache_share_one_fetch(server: JwksServer) -> None:
    first = signer("k1")
    server.publish(first)
    server.delay = 0.2
    tokens = verifier_of(JwksUrl(server.url))
    principals = await asyncio.gather(
        *(tokens.authenticate(first.mint(Role.PUPIL, subject=f"s{n}")) for n in range(10))
    )
    assert [principal.subject for principal in principals] == [f"s{n}" for n in range(10)]
    assert server.requests == 1


async def _loop_ticks_while(work: asyncio.Future[Any]) -> int:
    """How often a 10 ms ticker ran while `work` was under way: a blocked loop ticks not at all."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


# serial: what it proves is the pace of its own event loop (a 10 ms ticker keeps ticking while
# the fetch is cut off); beside other workers on two cores the loop itself waits for a core.
@pytest.mark.serial
@pytest.mark.parametrize("slowness", ["delay", "trickle"])
async def test_a_slow_server_is_cut_off_at_the_deadline_with_a_503_and_the_loop_runs_on(
    server: JwksServer, slowness: str
) -> None:
    first = signer("k1")
    server.publish(first)
    if slowness == "delay":
        server.delay = 30
    else:
        server.trickle = True  # each byte within the read timeout, the whole far beyond it
    tokens = verifier_of(JwksUrl(server.url, timeout=TIMEOUT))
    started = time.monotonic()
    attempt = asyncio.ensure_future(tokens.authenticate(first.mint(Role.PUPIL)))
    ticks = await _loop_ticks_while(attempt)
    with pytest.raises(Problem) as unavailable:
        await attempt
    elapsed = time.monotonic() - started
    assert TIMEOUT <= elapsed < TIMEOUT + 1.0
    assert ticks >= 10  # the ticker ran all along: nothing blocked the event loop
    assert (unavailable.value.status, unavailable.value.code) == (503, "keys_unavailable")
    assert unavailable.value.headers["Retry-After"].isdigit()
    # Within the cooldown the next request fails fast instead of waiting again.
    started = time.monotonic()
    with pytest.raises(Problem):
        await tokens.authenticate(first.mint(Role.PUPIL))
    assert time.monotonic() - started < TIMEOUT / 2
    assert server.requests == 1


@pytest.mark.parametrize(
    ("status", "document"),
    [(500, {"error": "down"}), (200, {"keys": "not a list"}), (200, ["not", "an", "object"])],
)
async def test_a_failing_or_malformed_answer_is_a_503_until_a_good_one_comes(
    server: JwksServer, clock: Clock, status: int, document: object
) -> None:
    first = signer("k1")
    server.status, server.document = status, document
    tokens = verifier_of(JwksUrl(server.url, cooldown=10, clock=clock))
    with pytest.raises(Problem) as unavailable:
        await tokens.authenticate(first.mint(Role.PUPIL))
    assert unavailable.value.status == 503
    server.status = 200
    server.publish(first)
    clock.now += 10
    assert (await tokens.authenticate(first.mint(Role.PUPIL, subject="ok"))).subject == "ok"


async def test_an_outage_is_ridden_out_on_the_last_key_set_for_a_bounded_time(
    server: JwksServer, clock: Clock
) -> None:
    first = signer("k1")
    server.publish(first)
    keys = JwksUrl(server.url, lifespan=300, stale_for=300, clock=clock)
    tokens = verifier_of(keys)
    await tokens.authenticate(first.mint(Role.PUPIL))
    server.status = 503  # the identity provider goes away
    clock.now += 301
    assert (await tokens.authenticate(first.mint(Role.PUPIL, subject="s"))).subject == "s"
    assert server.requests == 2  # it did try
    clock.now += 300  # the last good set is now older than lifespan + stale_for
    with pytest.raises(Problem) as unavailable:
        await tokens.authenticate(first.mint(Role.PUPIL))
    assert unavailable.value.status == 503
    assert keys.key_for("k1") is None


router = APIRouter()


@router.get("/v1/me", name="me")
async def me(principal: CurrentPrincipal) -> dict[str, str]:
    return {"subject": principal.subject}


async def test_the_service_frame_verifies_against_the_url_and_answers_503_when_it_hangs(
    server: JwksServer, tmp_path: Path
) -> None:
    first = signer("k1")
    server.publish(first)
    settings = PlatformSettings(var_dir=tmp_path, jwks_url=server.url)
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."), [router], settings=settings
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        bearer = {"Authorization": f"Bearer {first.mint(Role.PUPIL, subject='a')}"}
        answer = await client.get("/probe/v1/me", headers=bearer)
        assert answer.json() == {"subject": "a"}

    settings = PlatformSettings(var_dir=tmp_path, jwks_url=server.url)
    app = create_service_app(
        ServiceDescription("probe", "Probe", "For tests."), [router], settings=settings
    )
    app.state.token_verifier.keys.timeout = TIMEOUT
    server.delay = 30
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/probe/v1/me", headers=bearer)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "keys_unavailable"
