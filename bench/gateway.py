"""Gateway throughput and latency against a bare fsync+rename WSGI app, in the same run.

    .venv/bin/python bench/gateway.py [--seconds 6] [--levels 1,8,32] [--gthread]

All servers run under gunicorn with the same `gateway/gunicorn_conf.py` (2 workers x 4 threads unless
WEB_CONCURRENCY / GUNICORN_THREADS say otherwise), on 127.0.0.1, each with its own spool in a
temporary folder. The load is a 10-row CSV POSTed by N client threads, a new connection per
request (as a logger sends them). A third server, `bench/queue_wsgi.py`, runs
`Queue.enqueue` alone under bare WSGI, to tell the queue protocol's cost from the framework's.
For each concurrency the servers take turns (twice each) so that noise from other load on the
machine hits all of them. Printed: accepted uploads per second, p50 and p99 latency, and the
throughput ratios gateway/bare and queue/bare.
With --gthread, also the gateway on version 1's thread workers (`--worker-class gthread`), in the
same turns: the figure gateway/gthread tells what the slow-client workers cost.
Also the cost of one upload id (the flock'd counter). A benchmark, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO / "gateway" / "gunicorn_conf.py"
CSV = ("timestamp,tree_id,sap_flow\n" + "".join(f"2026-06-14 06:{m:02d}:00,oak-01,{m}.5\n" for m in range(10))).encode()
HEADERS = {
    "Content-Type": "text/csv",
    "Authorization": "Basic " + base64.b64encode(b"test:test").decode(),
    "Connection": "close",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/v1/tree", body=CSV, headers=HEADERS)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


class Server:
    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        home = workdir / f"server-{kind}"  # not named like a package: cwd is on sys.path
        queue_dir = home / "queue"
        env = {  # PROMETHEUS_MULTIPROC_DIR: left to gunicorn_conf.py, as in production
            **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}, "PORT": str(self.port), "HOST": "127.0.0.1", "QUEUE_DIR": str(queue_dir),
            "BARE_QUEUE_DIR": str(queue_dir), "BASIC_AUTH_USERS_JSON": '{"test": "test"}',
            "MIN_FREE_BYTES": "0", "QUEUE_MAX_ITEMS": str(10**9),
        }
        if kind == "gateway":
            command = [sys.executable, "-m", "gateway"]
        elif kind == "gthread":  # version 1's thread workers (--gthread)
            command = [sys.executable, "-m", "gateway", "--worker-class", "gthread"]
        else:
            module = {"bare": "bare_wsgi", "queue": "queue_wsgi"}[kind]
            command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                       "--pythonpath", str(REPO / "bench"), f"{module}:app"]
        home.mkdir(parents=True)
        self.log = open(home / "server.log", "wb")
        self.process = subprocess.Popen(command, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if post(self.port) == 202:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{kind} did not start; see {home / 'server.log'}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def load(port: int, concurrency: int, seconds: float) -> tuple[list[float], float]:
    """Latencies (s) of accepted uploads and the elapsed time, `concurrency` clients for `seconds`."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.monotonic()
    deadline = start + seconds

    def client() -> None:
        mine = []
        while time.monotonic() < deadline:
            began = time.perf_counter()
            status = post(port)
            if status != 202:
                errors.append(str(status))
                return
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"non-202 answers: {errors[:5]}")
    return latencies, time.monotonic() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def id_cost(workdir: Path, count: int = 20000) -> float:
    sys.path.insert(0, str(REPO))
    from shared.queue import Queue

    queue = Queue(workdir / "ids")
    began = time.perf_counter()
    for _ in range(count):
        queue._next_id()
    return (time.perf_counter() - began) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per server and concurrency level (default 6)")
    parser.add_argument("--levels", default="1,8,32", help="client concurrency levels (default 1,8,32)")
    parser.add_argument("--gthread", action="store_true",
                        help="also the gateway on gunicorn's thread workers (version 1), taking turns with the others")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    servers: dict[str, Server] = {}
    results = []
    try:
        print(f"upload id: {id_cost(workdir) * 1e6:.1f} us each (flock'd counter file)")
        for kind in ("gateway", "queue", "bare", *(("gthread",) if args.gthread else ())):
            servers[kind] = Server(kind, workdir)
        workers = os.environ.get("WEB_CONCURRENCY", "2")
        print(f"gunicorn: {workers} workers x {os.environ.get('GUNICORN_THREADS', '4')} threads; "
              f"10-row CSV ({len(CSV)} bytes); {args.seconds:g} s per server and level, in two turns")
        print("gateway: the service; queue: Queue.enqueue alone under bare WSGI; bare: fsync + rename only")
        print(f"{'conc':>4} | {'gateway/s':>9} {'p50 ms':>6} {'p99 ms':>6} | {'queue/s':>7} {'p50 ms':>6} "
              f"{'p99 ms':>6} | {'bare/s':>6} {'p50 ms':>6} {'p99 ms':>6} | gateway/bare  queue/bare")
        for concurrency in levels:
            figures = {}
            samples: dict[str, tuple[list[float], float]] = {k: ([], 0.0) for k in servers}
            for _ in range(2):
                for kind, server in servers.items():
                    load(server.port, concurrency, 0.5)  # warm-up, not counted
                    latencies, elapsed = load(server.port, concurrency, args.seconds / 2)
                    samples[kind] = (samples[kind][0] + latencies, samples[kind][1] + elapsed)
            for kind, (latencies, elapsed) in samples.items():
                figures[kind] = {
                    "per_second": len(latencies) / elapsed,
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": percentile(latencies, 0.99) * 1000,
                    "uploads": len(latencies),
                }
            ratio = figures["gateway"]["per_second"] / figures["bare"]["per_second"]
            queue_ratio = figures["queue"]["per_second"] / figures["bare"]["per_second"]
            g, q, b = figures["gateway"], figures["queue"], figures["bare"]
            print(f"{concurrency:>4} | {g['per_second']:>9.0f} {g['p50_ms']:>6.1f} {g['p99_ms']:>6.1f} | "
                  f"{q['per_second']:>7.0f} {q['p50_ms']:>6.1f} {q['p99_ms']:>6.1f} | "
                  f"{b['per_second']:>6.0f} {b['p50_ms']:>6.1f} {b['p99_ms']:>6.1f} | {ratio:>12.2f} {queue_ratio:>11.2f}")
            if "gthread" in figures:
                t = figures["gthread"]
                print(f"     | gthread: {t['per_second']:.0f}/s p50 {t['p50_ms']:.1f} p99 {t['p99_ms']:.1f} ms; "
                      f"gateway/gthread {g['per_second'] / t['per_second']:.2f}")
            results.append({"concurrency": concurrency, **figures, "ratio": ratio, "queue_ratio": queue_ratio})
    finally:
        for server in servers.values():
            server.stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(workdir, ignore_errors=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"gateway-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
