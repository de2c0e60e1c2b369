"""The fetch policy against a real HTTP server on 127.0.0.1: what is retried, how long it waits."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scheduler.fetch import RetryPolicy, fetch


@pytest.fixture
def answering():
    """A server answering every GET with the status the test sets; counts the requests."""
    state = {"status": 500, "headers": {}, "count": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's hook name)
            state["count"] += 1
            self.send_response(state["status"])
            for name, value in state["headers"].items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/x"
    yield state
    server.shutdown()
    server.server_close()


def test_a_5xx_is_retried_with_doubling_waits_up_to_the_attempts(answering) -> None:
    waits: list[float] = []
    result = fetch(answering["url"], {}, 5, RetryPolicy(attempts=4, backoff_seconds=0.5), sleep=waits.append)
    assert (result.ok, result.status, result.outcome, answering["count"]) == (False, 500, "http_5xx", 4)
    assert waits == [0.5, 1.0, 2.0] and "after 4 attempts" in result.reason


def test_a_429_waits_what_retry_after_says_and_a_404_is_not_retried(answering) -> None:
    answering.update(status=429, headers={"Retry-After": "3"})
    waits: list[float] = []
    fetch(answering["url"], {}, 5, RetryPolicy(attempts=2, backoff_seconds=0.1), sleep=waits.append)
    assert waits == [3.0]
    answering.update(status=404, headers={}, count=0)
    result = fetch(answering["url"], {}, 5, RetryPolicy(attempts=4), sleep=waits.append)
    assert (result.outcome, answering["count"], result.reason) == ("http_4xx", 1, "HTTP 404 Not Found")


def test_a_refused_connection_is_a_network_error_retried_then_given_up() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    waits: list[float] = []
    result = fetch(f"http://127.0.0.1:{port}/", {}, 2, RetryPolicy(attempts=3, backoff_seconds=0.1), sleep=waits.append)
    assert (result.ok, result.outcome, result.attempts) == (False, "network", 3)
    assert waits == [0.1, 0.2] and "network error" in result.reason
