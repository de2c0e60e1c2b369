"""Password guessing against a real gateway: how fast it is refused, and what a logger feels.

    .venv/bin/python bench/logins.py [--guesses 1000] [--concurrency 8] [--workers 2] [--seconds 5]

Starts `python -m gateway` on 127.0.0.1 (its own spool in a temporary folder, a USERS_FILE with
werkzeug's default scrypt hashes, LOGIN_FAILURES_MAX=10 in a 300 s window). A logger with an API
key POSTs a small CSV every 0.05 s, first alone for --seconds (the baseline), then while
--concurrency clients send --guesses wrong passwords from the same address (half for a real
user, half for made-up names). Printed: the guesses' statuses, duration and rate; the logger's
served fraction and p50/p99 latency, alone and during the attack. A benchmark: figures, never
a pass/fail test. Loopback only.
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from werkzeug.security import generate_password_hash

ROOT = Path(__file__).resolve().parent.parent
CSV = (ROOT / "test_data" / "tree" / "default.csv").read_bytes()
KEY = "station-12.bench-secret-Zk3v9QpL0sTq1uWm8yXr2b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(home: Path, workers: int) -> tuple[subprocess.Popen, str]:
    users = home / "users.yaml"
    users.write_text(f'users:\n  - name: station-12\n    key_hash: "{generate_password_hash(KEY)}"\n'
                     f'  - name: carol\n    password: "{generate_password_hash("the-right-one")}"\n')
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "QUEUE_DIR": str(home / "queue"),
           "USERS_FILE": str(users), "WEB_CONCURRENCY": str(workers), "MIN_FREE_BYTES": "0",
           "LOGIN_FAILURES_MAX": "10", "LOGIN_FAILURES_WINDOW": "300", "PYTHONPATH": str(ROOT),
           "PROMETHEUS_MULTIPROC_DIR": str(home / "metrics")}
    env.pop("BASIC_AUTH_USERS_JSON", None)
    log = open(home / "gateway.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=home, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # 60 s at most
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    sys.exit(f"the gateway did not start: {(home / 'gateway.log').read_text()}")


def logger(url: str, stop: threading.Event, results: list[tuple[int, float]]) -> None:
    session = requests.Session()
    session.headers.update({"X-API-Key": KEY, "Content-Type": "text/csv"})
    for _ in range(100_000):  # bounded
        if stop.is_set():
            return
        began = time.perf_counter()
        try:
            status = session.post(url + "/api/v1/tree", data=CSV, timeout=10).status_code
        except requests.RequestException:
            status = 0
        results.append((status, time.perf_counter() - began))
        time.sleep(0.05)


def summary(results: list[tuple[int, float]]) -> str:
    if not results:
        return "no uploads"
    seconds = sorted(s for _, s in results)
    served = sum(1 for status, _ in results if status == 202) / len(results)
    p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
    return (f"{len(results)} uploads, {served:.0%} got 202, p50 {statistics.median(seconds) * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guesses", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-logins-") as tmp:
        process, url = start_gateway(Path(tmp), args.workers)
        try:
            alone: list[tuple[int, float]] = []
            stop = threading.Event()
            thread = threading.Thread(target=logger, args=(url, stop, alone))
            thread.start()
            time.sleep(args.seconds)
            stop.set()
            thread.join()

            during: list[tuple[int, float]] = []
            stop = threading.Event()
            thread = threading.Thread(target=logger, args=(url, stop, during))
            thread.start()

            def guess(number: int) -> int:
                name = "carol" if number % 2 else f"user{number}"
                return requests.get(url + "/api/v1/uploads/x", auth=(name, f"guess-{number}"), timeout=30).status_code

            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                statuses = collections.Counter(pool.map(guess, range(args.guesses)))
            took = time.perf_counter() - began
            stop.set()
            thread.join()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"gateway: {args.workers} worker processes; LOGIN_FAILURES_MAX=10 per 300 s")
    print(f"{args.guesses} wrong passwords, {args.concurrency} at a time, one address: {took:.1f} s "
          f"({args.guesses / took:.0f}/s), statuses {dict(sorted(statuses.items()))}")
    print(f"logger alone (baseline):  {summary(alone)}")
    print(f"logger during the attack: {summary(during)}")


if __name__ == "__main__":
    main()
