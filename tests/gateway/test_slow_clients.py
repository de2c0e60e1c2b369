"""Slow and stalled clients against a real gateway (`python -m gateway`, real gunicorn workers).

Version 1's thread workers gave every connection one of 2 x 4 threads and read without a timeout:
connections that sent nothing, or stopped in the middle of a body, took them all and a logger's
upload waited forever. Bench figures for this are in bench/slow_clients.py.
"""

from __future__ import annotations

import socket
import time
import pytest
import requests

from gateway_helpers import AUTH, TEST_DATA, Gunicorn

pytestmark = pytest.mark.slow

READ_TIMEOUT = 2  # seconds; the default is 30
SAMPLE = (TEST_DATA / "tree" / "default.csv").read_bytes()
# A logger on a bad link: valid credentials, then the body stops (without credentials the app
# answers 401 from the headers).
STALLED_BODY = (
    b"POST /api/v1/tree HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
    + f"Authorization: {AUTH['Authorization']}\r\n".encode()
    + b"Content-Length: 100000\r\n\r\ntimestamp,tree_id,"
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Gunicorn:
    workdir = tmp_path_factory.mktemp("slow-clients")
    # One worker process: every held connection lands on it (with two, the kernel may hand all of
    # them to one while the other serves the upload).
    server = Gunicorn(workdir / "queue", workdir, READ_TIMEOUT=str(READ_TIMEOUT), WEB_CONCURRENCY="1")
    yield server
    server.stop()


def _connect(server: Gunicorn, opening: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if opening:
        sock.sendall(opening)
    return sock


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """What the server sent before it closed the connection, and how long that took."""
    began = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except OSError:  # TimeoutError (still open at the limit), or a reset
        pass
    return received, time.monotonic() - began


def test_an_upload_is_served_while_idle_sockets_and_stalled_bodies_hold_connections(gateway):
    # Many more than the old 8 threads: idle sockets without credentials, bodies stalled
    # midway, and headers that never end (slowloris).
    holders = [_connect(gateway) for _ in range(24)]
    holders += [_connect(gateway, STALLED_BODY) for _ in range(16)]
    holders += [_connect(gateway, b"POST /api/v1/tree HTTP/1.1\r\nHost: localhost\r\n") for _ in range(8)]
    try:
        time.sleep(0.5)  # the server has accepted them all and is waiting for more bytes
        began = time.monotonic()
        answer = requests.post(f"{gateway.url}/api/v1/tree", data=SAMPLE,
                               headers={**AUTH, "Content-Type": "text/csv"}, timeout=10)
        took = time.monotonic() - began
    finally:
        for sock in holders:
            sock.close()
    assert answer.status_code == 202, answer.text
    assert took < READ_TIMEOUT, f"the upload waited {took:.1f} s behind the slow connections"


def test_a_stalled_body_is_answered_408_and_closed_after_the_read_timeout(gateway):
    sock = _connect(gateway, STALLED_BODY)
    try:
        received, took = _read_until_closed(sock, limit=READ_TIMEOUT + 10)
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"READ_TIMEOUT" in received  # the answer names the setting
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nconnection: close" in head, head  # it says what happens next: the connection closes
    assert READ_TIMEOUT - 0.5 <= took < READ_TIMEOUT + 5, f"closed after {took:.1f} s"
    # The app never saw this request; the rejection is logged all the same, with its reason.
    lines = [line for line in gateway.log.read_text().splitlines() if "event=rejected status=408" in line]
    assert lines and f'reason="the request body stalled: nothing arrived for {READ_TIMEOUT} s' in lines[0]


def test_headers_that_never_end_are_closed_after_the_header_deadline(gateway):
    # gunicorn's keepalive (5 s in gateway/gunicorn_conf.py) bounds the whole headers.
    sock = _connect(gateway, b"POST /api/v1/tree HTTP/1.1\r\nHost: localhost\r\n")
    try:
        began = time.monotonic()
        for _ in range(20):  # one header line a second: each arrives before any read timeout
            try:
                sock.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
            if _closed_within(sock, 1.0):
                break
        took = time.monotonic() - began
    finally:
        sock.close()
    assert took < 8, f"a client trickling headers was still connected after {took:.1f} s"


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True
