"""Slow and stalled clients against the gateway: does a normal logger still get its uploads in?

    .venv/bin/python bench/slow_clients.py [--seconds 6] [--ks 16,32,64]
        [--attacks trickle,stall,slowloris,idle] [--targets before,after,nginx] [--close-wait 45]

Targets, each started by the bench on 127.0.0.1 with its own spool in a temporary folder:
  before  `python -m gateway --worker-class gthread`: version 1's workers (2 x 4 threads, no
          read timeout), as `make run` started them
  after   `python -m gateway` as shipped (gateway/slow_clients.py: gevent, deadlines)
  nginx   Debian's nginx (`nginx` on PATH) with deploy/nginx/ingress.conf.template, TLS with a
          self-signed certificate made here, in front of an `after` gateway
Attacks, K connections at once, kept at K (an attacker reconnects when the server closes one):
  trickle    headers with valid credentials (a logger on a bad link), then a body of 100 kB at
             one byte per second
  stall      the same headers and 100 bytes of a 100 kB body, then nothing
  slowloris  a request line, then one more header line per second, never the blank line
  idle       connect and send nothing (no credentials)
Meanwhile one logger POSTs a 10-row CSV every 0.2 s on a new connection (5 s client timeout).
Printed per target, attack and K: the logger's served fraction (202s / attempts) and p99 latency
(attempts that failed count with the time they took). Then "closed after": how long the server
takes to close connections that stalled mid-body (up to --close-wait seconds; "open" if never).
Goal (issue 10): with 64 connections of every kind, >= 95 % served and p99 < 1 s, stalled
bodies closed within 30 s. A benchmark: figures, never a pass/fail test. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import os
import selectors
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "ingress.conf.template"
CSV = ("timestamp,tree_id,sap_flow\n" + "".join(f"2026-06-14 06:{m:02d}:00,oak-01,{m}.5\n" for m in range(10))).encode()
AUTH = "Basic " + base64.b64encode(b"test:test").decode()
LOGGER_TIMEOUT = 5.0
LOGGER_PERIOD = 0.2
ATTACK_BODY = 100_000
ATTACKS = ("trickle", "stall", "slowloris", "idle")
MAX_RECONNECTS_PER_TICK = 64  # bounded: an attacker never spins on a refusing server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Target:
    name: str
    port: int
    tls: ssl.SSLContext | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    def connect(self, timeout: float) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname="localhost")
        return sock

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def upload(target: Target) -> tuple[int, float]:
    """One logger upload on a new connection: (status or 0 on failure, seconds taken)."""
    request = (
        f"POST /api/v1/tree HTTP/1.1\r\nHost: localhost\r\nAuthorization: {AUTH}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {len(CSV)}\r\nConnection: close\r\n\r\n"
    ).encode() + CSV
    began = time.monotonic()
    try:
        with target.connect(LOGGER_TIMEOUT) as sock:
            sock.settimeout(max(0.01, LOGGER_TIMEOUT - (time.monotonic() - began)))
            sock.sendall(request)
            answer = b""
            while b"\r\n" not in answer and time.monotonic() - began < LOGGER_TIMEOUT:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, time.monotonic() - began


class Attacker:
    """K connections of one kind, kept open (reconnected when the server closes one)."""

    def __init__(self, target: Target, kind: str, count: int) -> None:
        self.target, self.kind, self.count = target, kind, count
        self.connections: dict[socket.socket, float] = {}  # socket -> when it last sent
        self.closed_after: list[float] = []  # for each connection the server closed: silence before
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _opening(self) -> bytes:
        line = b"POST /api/v1/tree HTTP/1.1\r\nHost: localhost\r\n"
        if self.kind in ("trickle", "stall"):
            return line + f"Authorization: {AUTH}\r\nContent-Type: text/csv\r\nContent-Length: {ATTACK_BODY}\r\n\r\n".encode() + (
                b"x" * 100 if self.kind == "stall" else b"")
        return line if self.kind == "slowloris" else b""

    def _open_one(self) -> None:
        try:
            sock = self.target.connect(timeout=2.0)
            opening = self._opening()
            if opening:
                sock.sendall(opening)
            sock.setblocking(False)
            self.connections[sock] = time.monotonic()
        except OSError:
            pass

    def _drip(self, sock: socket.socket) -> None:
        data = {"trickle": b"x", "slowloris": b"X-Drip: 1\r\n"}.get(self.kind)
        if data is not None:
            sock.send(data)
            self.connections[sock] = time.monotonic()

    def _run(self) -> None:
        while not self.stop.is_set():
            for _ in range(min(MAX_RECONNECTS_PER_TICK, self.count - len(self.connections))):
                self._open_one()
            self._reap()
            for sock in list(self.connections):
                try:
                    self._drip(sock)
                except (BlockingIOError, ssl.SSLWantWriteError):
                    pass
                except OSError:
                    self._forget(sock)
            self.stop.wait(1.0)
        for sock in list(self.connections):
            self._forget(sock, counted=False)

    def _reap(self) -> None:
        """Connections the server answered or closed are counted and replaced next tick."""
        with selectors.DefaultSelector() as selector:
            for sock in self.connections:
                selector.register(sock, selectors.EVENT_READ)
            ready = [key.fileobj for key, _ in selector.select(timeout=0)] if self.connections else []
        for sock in ready:
            if _answered_or_closed(sock):
                self._forget(sock)

    def _forget(self, sock: socket.socket, counted: bool = True) -> None:
        sent = self.connections.pop(sock, None)
        if counted and sent is not None:
            self.closed_after.append(time.monotonic() - sent)
        try:
            sock.close()
        except OSError:
            pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def under_attack(target: Target, kind: str, count: int, seconds: float) -> tuple[float, float, int]:
    """Served fraction, p99 (s) and attempts of the logger while `count` `kind` clients attack."""
    attacker = Attacker(target, kind, count)
    attacker.thread.start()
    time.sleep(2.0)  # the attack is in place before the logger starts
    results = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, took = upload(target)
        results.append((status, took))
        time.sleep(max(0.0, LOGGER_PERIOD - took))
    attacker.stop.set()
    attacker.thread.join(timeout=30)
    served = sum(1 for status, _ in results if status == 202) / len(results)
    return served, percentile([took for _, took in results], 0.99), len(results)


def recover(target: Target, seconds: float = 30.0) -> None:
    """Wait (bounded) until the target serves again, so one run's attack does not spill into the next."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and upload(target)[0] != 202:
        time.sleep(0.5)


def stalled_close_times(target: Target, wait: float, count: int = 4) -> list[float | None]:
    """Seconds until the server closed each of `count` connections stalled mid-body (None: still open)."""
    attacker = Attacker(target, "stall", count)
    for _ in range(count):
        attacker._open_one()
    opened = time.monotonic()
    closed: dict[socket.socket, float] = {}
    while time.monotonic() - opened < wait and len(closed) < len(attacker.connections):
        with selectors.DefaultSelector() as selector:
            for sock in attacker.connections:
                if sock not in closed:
                    selector.register(sock, selectors.EVENT_READ)
            for key, _ in selector.select(timeout=0.5):
                if _answered_or_closed(key.fileobj):
                    closed[key.fileobj] = time.monotonic() - opened
    times = [closed.get(sock) for sock in attacker.connections]
    for sock in list(attacker.connections):
        attacker._forget(sock, counted=False)
    return times


def _answered_or_closed(sock: socket.socket) -> bool:
    """Readable is not closed: a TLS server also sends session tickets after the handshake."""
    try:
        sock.recv(4096)  # an answer (408) or the end of the stream
        return True
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    except OSError:
        return True  # reset


def start_gateway(name: str, workdir: Path, extra_args: list[str]) -> Target:
    port = free_port()
    home = workdir / f"gateway-{name}"
    home.mkdir(parents=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "PORT": str(port), "HOST": "127.0.0.1", "QUEUE_DIR": str(home / "queue"),
        "BASIC_AUTH_USERS_JSON": '{"test": "test"}', "MIN_FREE_BYTES": "0", "QUEUE_MAX_ITEMS": str(10**9),
    }
    log = open(home / "gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gateway", *extra_args], cwd=home, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    target = Target(name, port, processes=[process])
    _wait_until_serving(target, process, home / "gateway.log")
    return target


def start_nginx(workdir: Path, upstream: Target) -> Target:
    home = workdir / "nginx"
    home.mkdir()
    workdir.chmod(0o755)  # nginx's workers (nobody, when started as root) buffer bodies in here
    home.chmod(0o777)
    cert, key = home / "tls.crt", home / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    port = free_port()
    values = {
        "GATEWAY_UPSTREAM": f"127.0.0.1:{upstream.port}", "HTTPS_PORT": f"127.0.0.1:{port}",
        "TLS_CERT": str(cert), "TLS_KEY": str(key), "MAX_UPLOAD_BYTES": "33554432",
        "NGINX_RUN": str(home), "CLIENT_MAX_BODY": str(33554432 + 65536),
    }
    config = NGINX_TEMPLATE.read_text()
    for name, value in values.items():
        config = config.replace("${" + name + "}", value)
    (home / "nginx.conf").write_text(config)
    log = open(home / "nginx.log", "wb")
    process = subprocess.Popen(["nginx", "-c", str(home / "nginx.conf"), "-g", "daemon off;"],
                               stdout=log, stderr=subprocess.STDOUT)
    tls = ssl.create_default_context(cafile=str(cert))
    target = Target("nginx", port, tls=tls, processes=[*upstream.processes, process])
    _wait_until_serving(target, process, home / "nginx.log")
    return target


def _wait_until_serving(target: Target, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if upload(target)[0] == 202:
            return
        time.sleep(0.3)
    target.stop()
    raise RuntimeError(f"{target.name} did not start; see {log}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="logger time per attack and K (default 6)")
    parser.add_argument("--ks", default="16,32,64", help="attacking connections (default 16,32,64)")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--targets", default="before,after,nginx")
    parser.add_argument("--close-wait", type=float, default=45.0, help="how long to watch stalled bodies (default 45)")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    attacks = [kind for kind in args.attacks.split(",") if kind]  # --attacks '': only the stalled bodies
    names = args.targets.split(",")
    if "nginx" in names and shutil.which("nginx") is None:
        sys.exit("bench/slow_clients.py: no nginx on PATH (apt-get install nginx), or leave out --targets nginx")
    workdir = Path(tempfile.mkdtemp(prefix="bench-slow-clients-"))
    targets: list[Target] = []
    try:
        for name in names:
            if name == "before":
                targets.append(start_gateway("before", workdir, ["--worker-class", "gthread"]))
            elif name == "after":
                targets.append(start_gateway("after", workdir, []))
            elif name == "nginx":
                targets.append(start_nginx(workdir, start_gateway("behind-nginx", workdir, [])))
            else:
                sys.exit(f"bench/slow_clients.py: unknown target {name!r} (before, after, nginx)")
        print(f"logger: 10-row CSV every {LOGGER_PERIOD} s, new connection, {LOGGER_TIMEOUT:g} s timeout; "
              f"{args.seconds:g} s per run")
        print(f"{'target':>7} {'attack':>9} {'K':>3} | {'served':>7} {'p99 s':>6} {'tries':>5}")
        for target in targets:
            for kind in attacks:
                for count in ks:
                    served, p99, tries = under_attack(target, kind, count, args.seconds)
                    print(f"{target.name:>7} {kind:>9} {count:>3} | {served:>6.0%} {p99:>6.2f} {tries:>5}", flush=True)
                    recover(target)
        print(f"stalled mid-body (4 connections each, watched for {args.close_wait:g} s): closed after")
        watched: dict[str, list[float | None]] = {}
        threads = [threading.Thread(target=lambda t=t: watched.__setitem__(t.name, stalled_close_times(t, args.close_wait)))
                   for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for target in targets:
            shown = ", ".join("open" if t is None else f"{t:.1f} s" for t in watched[target.name])
            print(f"{target.name:>7}: {shown}")
    finally:
        for target in targets:
            target.stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
