"""The readiness wait behind `bvb run`'s tokens, against a real HTTP server whose services become
ready when the test says so: nothing is announced while one answers 503, and the announcement
follows the last one becoming ready."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bilet_host.readiness import announce_when_ready, connect_url

BOUNDED = 60.0  # a wait that would otherwise hang


class Platform:
    """Two services' `/readyz`; `ready` says which answer 200; `asked` counts the probes."""

    def __init__(self) -> None:
        self.ready: set[str] = {"identity"}
        self.asked = 0
        self.condition = threading.Condition()

    def answer(self, path: str) -> int:
        service = path.strip("/").split("/")[0]
        with self.condition:
            self.asked += 1
            self.condition.notify_all()
            return 200 if service in self.ready and path.endswith("/readyz") else 503

    def wait_for_probes(self, count: int) -> None:
        with self.condition:
            assert self.condition.wait_for(lambda: self.asked >= count, BOUNDED)


@pytest.fixture
def platform() -> Iterator[tuple[Platform, str]]:
    state = Platform()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(state.answer(self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, connect_url("0.0.0.0", server.server_address[1])  # noqa: S104
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_is_announced_until_the_last_service_is_ready(
    platform: tuple[Platform, str],
) -> None:
    state, base_url = platform
    announced = threading.Event()
    watcher = announce_when_ready(
        base_url, ["identity", "consent"], lambda: True, lambda: False, announced.set
    )
    state.wait_for_probes(6)  # three rounds with consent answering 503
    assert not announced.is_set()
    with state.condition:
        state.ready.add("consent")
    assert announced.wait(BOUNDED)
    watcher.join(BOUNDED)
    assert not watcher.is_alive()


def test_a_server_that_stops_before_it_is_ready_announces_nothing(
    platform: tuple[Platform, str],
) -> None:
    state, base_url = platform
    announced = threading.Event()
    stop = threading.Event()
    watcher = announce_when_ready(base_url, ["consent"], lambda: True, stop.is_set, announced.set)
    state.wait_for_probes(2)
    stop.set()
    watcher.join(BOUNDED)
    assert not watcher.is_alive()
    assert not announced.is_set()


def test_a_server_bound_to_every_interface_is_asked_on_the_loopback_one() -> None:
    assert connect_url("0.0.0.0", 8000) == "http://127.0.0.1:8000"  # noqa: S104
    assert connect_url("::", 8000) == "http://[::1]:8000"
    assert connect_url("10.1.2.3", 81) == "http://10.1.2.3:81"
