"""Load generators and server accounting of bench/gateway.py.

* `wrk_load`: wrk (Debian package `wrk`) with bench/wrk_upload.lua, N keep-alive connections;
* `python_load`: N Python threads, a new connection per request (as a logger sends them); the
  fallback when wrk is missing, and the only way to measure connection set-up, which wrk cannot;
* `ServerProcesses`: CPU seconds (utime + stime) and memory of a gunicorn master and its
  workers, read from /proc.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("wrk_upload.lua")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Sample:
    """One load run against one server."""

    uploads: int  # answered 202
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_seconds: float = 0.0  # the server's, during the run
    rss_mb: float = 0.0  # the server's, summed over its processes, after the run
    pss_mb: float = 0.0  # the same without counting pages shared after fork twice

    @property
    def per_second(self) -> float:
        return self.uploads / self.seconds

    @property
    def cpu_ms_per_upload(self) -> float:
        return 1000 * self.cpu_seconds / self.uploads if self.uploads else float("nan")


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk_load(url: str, concurrency: int, seconds: float, body: bytes, authorization: str, workdir: Path) -> Sample:
    seconds = max(1, round(seconds))  # wrk takes whole seconds
    body_file = workdir / "wrk-body.csv"
    body_file.write_bytes(body)
    threads = min(concurrency, 2)  # wrk's own threads share the 2 cores with the server
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT), url],
        env={**os.environ, "WRK_BODY": str(body_file), "WRK_AUTHORIZATION": authorization},
        capture_output=True, text=True, timeout=seconds + 60,
    )
    line = next((line for line in result.stdout.splitlines() if line.startswith("WRK_RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout[-2000:]} {result.stderr[-2000:]}")
    figures = json.loads(line.split(" ", 1)[1])
    if figures["status_errors"] or figures["socket_errors"]:
        raise RuntimeError(f"wrk saw {figures['status_errors']} answers >= 400 and "
                           f"{figures['socket_errors']} socket errors: {result.stdout[-2000:]}")
    return Sample(figures["requests"], figures["duration_us"] / 1e6, figures["p50_us"] / 1000, figures["p99_us"] / 1000)


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def python_load(port: int, path: str, concurrency: int, seconds: float, body: bytes, headers: dict[str, str]) -> Sample:
    """`concurrency` threads POST for `seconds`, each request on a new connection."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def client() -> None:
        mine = []
        while time.monotonic() < deadline:
            began = time.perf_counter()
            status = post(port, path, body, headers)
            if status != 202:
                errors.append(status)
                return
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise RuntimeError(f"non-202 answers: {errors[:5]}")
    ordered = sorted(latencies)
    return Sample(len(ordered), elapsed, 1000 * statistics.median(ordered),
                  1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))])


class ServerProcesses:
    """A gunicorn master and its current workers (children), from /proc."""

    def __init__(self, master: int) -> None:
        self.master = master

    def pids(self) -> list[int]:
        found = [self.master]
        for entry in os.listdir("/proc"):
            if entry.isdigit() and _parent(int(entry)) == self.master:
                found.append(int(entry))
        return found

    def cpu_seconds(self) -> float:
        """utime + stime of all their threads so far (a worker that exited is not counted)."""
        total = 0
        for pid in self.pids():
            fields = _stat_fields(pid)
            if fields:
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / CLOCK_TICKS

    def memory_mb(self) -> tuple[float, float]:
        """(RSS summed over the processes, PSS summed: shared pages counted once)."""
        rss = pss = 0
        for pid in self.pids():
            try:
                rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except (OSError, IndexError, ValueError):
                continue
        return rss / 1024, pss / 1024


def measured(processes: ServerProcesses, run) -> Sample:
    """`run()` (returning a Sample) with the server's CPU time and memory around it."""
    before = processes.cpu_seconds()
    sample = run()
    cpu = processes.cpu_seconds() - before
    rss, pss = processes.memory_mb()
    return Sample(sample.uploads, sample.seconds, sample.p50_ms, sample.p99_ms, cpu, rss, pss)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None
