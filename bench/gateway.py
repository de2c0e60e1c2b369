"""Gateway throughput, latency, CPU and memory against bare fsync+rename apps, in the same run.

    .venv/bin/python bench/gateway.py [--seconds 4] [--levels 1,8,32] [--parts table,newconn]
    .venv/bin/python bench/gateway.py --parts drain [--workers 0,10,19,10/2]
    .venv/bin/python bench/gateway.py --fresh-fs ...   (as root: spools on a new ext4 filesystem)

All servers run under gunicorn with the same `gateway/gunicorn_conf.py` (its defaults unless
WEB_CONCURRENCY / GUNICORN_THREADS say otherwise), on 127.0.0.1, each with its own spool in a
temporary folder. The load is a 10-row CSV POSTed to /api/v1/tree.
  gateway  the service (`python -m gateway`)
  queue    `shared.queue.Queue.enqueue` alone under bare WSGI (bench/queue_wsgi.py): the queue
           protocol's cost, without framework and checks
  flask    the baseline issue 11 names: a bare Flask app doing the same fsync + rename of payload
           and sidecar (bench/bare_flask.py); the goals of item 2 are judged against it
  bare     that disk work with no framework at all (bench/bare_wsgi.py): durability itself, the
           stricter line printed beside it
  gthread  (--gthread) the gateway on gunicorn's thread workers: what the slow-client workers cost
  gw-tN    (--threads N,...) the gateway with GUNICORN_THREADS=N
  before   (--baseline-ref REF) the gateway of git REF, exported with git archive

Parts:
  table    wrk (bench/wrk_upload.lua) with c keep-alive connections per level; wrk cannot open a
           new connection per request, so these are keep-alive figures. Without wrk on PATH, the
           Python client (new connection per request) takes its place.
  newconn  the Python client at c = 8, a new connection per request as loggers send them.
  drain    per --workers entry a gateway and a real worker (`python -m worker`) on one queue that
           holds a backlog, as in production: the gateway at c = 8 (wrk) with its worker paused
           (SIGSTOP), against the same gateway while the worker merges the backlog and what the
           gateway queues into a local store. An entry is WORKER_NICE[/WORKER_MOVE_THREADS]
           [:WORKER_BUSY_SHARE] ("idle": SCHED_IDLE; a share of 1: no pacing, worker/pacing.py).
Every figure is taken in 3 repetitions in which the servers (phases) take turns, in an order
rotated per repetition, so that the machine's other load hits all alike; printed are min /
median / max of the 3, ratios per repetition, the load average, and the goals of issue 11 as
"met" / "not met" ("noisy" when the machine's load or the baseline's spread is too high to tell).
Server CPU per upload is utime + stime of the gunicorn master and workers (/proc) over the run,
RSS the sum over those processes (PSS, which counts pages shared after fork once, beside it).
--fresh-fs puts every spool on a new ext4 filesystem (bench/fresh_fs.py, root only): on a disk that
has seen millions of files come and go, creating a file costs 20 us in one folder and 800 us of
CPU in the next (ext4's inode search), and the servers would differ by where their folders landed.
Upstream's FastAPI server is not available on this machine: it is not measured.
A benchmark that prints figures, never a pass/fail test. BENCH_KEEP=1 keeps the temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

from fresh_fs import describe, fresh_filesystem  # noqa: E402
from git_export import export  # noqa: E402
from load_clients import (  # noqa: E402  (bench/ is this script's folder)
    Sample, ServerProcesses, have_wrk, load_average, measured, post, python_load, wrk_load,
)

GUNICORN_CONF = REPO / "gateway" / "gunicorn_conf.py"
PATH = "/api/v1/tree"
AUTHORIZATION = "Basic " + base64.b64encode(b"test:test").decode()
HEADERS = {"Content-Type": "text/csv", "Authorization": AUTHORIZATION}
CSV = ("timestamp,tree_id,sap_flow\n" + "".join(f"2026-06-14 06:{m:02d}:00,oak-01,{m}.5\n" for m in range(10))).encode()
REPETITIONS = 3
NEWCONN_LEVEL = 8
# Goals of issue 11 (items 2 and 7).
GOAL_THROUGHPUT = 0.8  # x the bare Flask app at c = 8
GOAL_CPU = 1.5  # x its CPU per upload
GOAL_RSS = 1.5  # x its RSS
GOAL_BUSY = 0.9  # busy / idle at c = 8
NOISY_LOAD = 2.5  # above this one-minute load average (2 cores), a goal is not judged
NOISY_SPREAD = 0.25  # nor when the baseline's max and min differ by more than this


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, kind: str, workdir: Path, extra_env: dict[str, str] | None = None, label: str = "") -> None:
        self.kind = kind
        self.port = free_port()
        home = workdir / f"server-{label or kind}"  # not named like a package: cwd is on sys.path
        self.queue_dir = home / "queue"
        env = {  # PROMETHEUS_MULTIPROC_DIR: left to gunicorn_conf.py, as in production
            **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            "PORT": str(self.port), "HOST": "127.0.0.1", "QUEUE_DIR": str(self.queue_dir),
            "BARE_QUEUE_DIR": str(self.queue_dir), "BASIC_AUTH_USERS_JSON": '{"test": "test"}',
            "MIN_FREE_BYTES": "0", "QUEUE_MAX_ITEMS": str(10**9), "PYTHONPATH": str(REPO),
            **(extra_env or {}),
        }
        if kind == "gateway":
            command = [sys.executable, "-m", "gateway"]
        elif kind == "gthread":
            command = [sys.executable, "-m", "gateway", "--worker-class", "gthread"]
        else:
            module = {"bare": "bare_wsgi", "flask": "bare_flask", "queue": "queue_wsgi"}[kind]
            command = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                       "--pythonpath", str(REPO / "bench"), f"{module}:app"]
        home.mkdir(parents=True)
        self.log = open(home / "server.log", "wb")
        # `python -m gateway` execs gunicorn: this pid is gunicorn's master in every case.
        self.process = subprocess.Popen(command, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.processes = ServerProcesses(self.process.pid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if post(self.port, PATH, CSV, HEADERS) == 202:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{kind} did not start; see {home / 'server.log'}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def keepalive_run(server: Server, concurrency: int, seconds: float, workdir: Path, use_wrk: bool) -> Sample:
    if use_wrk:  # warm-up, not counted
        wrk_load(server.url, concurrency, 1, CSV, AUTHORIZATION, workdir)
    else:
        python_load(server.port, PATH, concurrency, 0.5, CSV, HEADERS)
    if use_wrk:
        return measured(server.processes, lambda: wrk_load(server.url, concurrency, seconds, CSV, AUTHORIZATION, workdir))
    return measured(server.processes, lambda: python_load(server.port, PATH, concurrency, seconds, CSV, HEADERS))


def newconn_run(server: Server, concurrency: int, seconds: float) -> Sample:
    python_load(server.port, PATH, concurrency, 0.5, CSV, HEADERS)
    return measured(server.processes, lambda: python_load(server.port, PATH, concurrency, seconds, CSV, HEADERS))


def in_turns(names: Sequence[str], run: Callable[[str], Sample]) -> dict[str, list[Sample]]:
    """REPETITIONS samples of each name, the order rotated per repetition."""
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for repetition in range(REPETITIONS):
        shift = repetition % len(names)
        for name in [*names[shift:], *names[:shift]]:
            samples[name].append(run(name))
    return samples


def spread(values: Sequence[float], digits: int = 0) -> str:
    """min / median / max."""
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


# The one-minute load average before the first server started: during a run the load average
# counts the bench's own threads waiting in fsync (8 clients: 5-9 on a quiet machine), so only
# the load found at the start tells of other work on the machine.
LOAD_AT_START = os.getloadavg()[0]


def noisy(baseline: Sequence[float]) -> str | None:
    """Why figures taken now cannot judge a goal, or None."""
    if LOAD_AT_START > NOISY_LOAD:
        return f"load average {LOAD_AT_START:.1f} on {os.cpu_count()} cores before the run"
    if min(baseline) > 0 and max(baseline) / min(baseline) - 1 > NOISY_SPREAD:
        return f"baseline varies {100 * (max(baseline) / min(baseline) - 1):.0f} % between repetitions"
    return None


def verdict(value: float, goal: float, above: bool, noise: str | None) -> str:
    met = value >= goal if above else value <= goal
    word = "met" if met else "not met"
    return f"{word} (noisy: {noise})" if noise else word


def print_samples(kind: str, samples: list[Sample]) -> None:
    print(f"  {kind:<8} {spread([s.per_second for s in samples]):>20} | "
          f"{spread([s.p50_ms for s in samples], 1):>17} | {spread([s.p99_ms for s in samples], 1):>18} | "
          f"{spread([s.cpu_ms_per_upload for s in samples], 2):>18} | "
          f"{max(s.rss_mb for s in samples):>4.0f} ({max(s.pss_mb for s in samples):.0f})")


def ratios(samples: dict[str, list[Sample]], kind: str, base: str, figure: Callable[[Sample], float]) -> list[float]:
    return [figure(a) / figure(b) for a, b in zip(samples[kind], samples[base])]


def part_table(servers: dict[str, Server], levels: list[int], seconds: float, workdir: Path) -> list[dict]:
    use_wrk = have_wrk()
    client = "wrk, keep-alive connections" if use_wrk else "Python client (wrk not found), a new connection per request"
    print(f"\ntable: {client}; {seconds:g} s per server, level and repetition")
    results = []
    for concurrency in levels:
        print(f"c = {concurrency} ({load_average()})")
        print(f"  {'server':<8} {'uploads/s min/med/max':>20} | {'p50 ms':>17} | {'p99 ms':>18} | "
              f"{'CPU ms/upload':>18} | RSS MB (PSS)")
        samples = in_turns(list(servers), lambda kind: keepalive_run(servers[kind], concurrency, seconds, workdir, use_wrk))
        for kind, kind_samples in samples.items():
            print_samples(kind, kind_samples)
        # The goals are the issue's: against a bare Flask app (flask). bare (no framework at all)
        # is the stricter line, printed beside them.
        throughput = ratios(samples, "gateway", "flask", lambda s: s.per_second)
        cpu = ratios(samples, "gateway", "flask", lambda s: s.cpu_ms_per_upload)
        rss = ratios(samples, "gateway", "flask", lambda s: s.rss_mb)
        print(f"  gateway/flask: uploads/s {spread(throughput, 2)}, CPU per upload {spread(cpu, 2)}, RSS {spread(rss, 2)}")
        print(f"  gateway/bare:  uploads/s {spread(ratios(samples, 'gateway', 'bare', lambda s: s.per_second), 2)}, "
              f"CPU per upload {spread(ratios(samples, 'gateway', 'bare', lambda s: s.cpu_ms_per_upload), 2)}, "
              f"RSS {spread(ratios(samples, 'gateway', 'bare', lambda s: s.rss_mb), 2)}; "
              f"flask/bare uploads/s {spread(ratios(samples, 'flask', 'bare', lambda s: s.per_second), 2)}; "
              f"queue/bare uploads/s {spread(ratios(samples, 'queue', 'bare', lambda s: s.per_second), 2)}")
        for other in (kind for kind in samples if kind in ("gthread", "before") or kind.startswith("gw-t")):
            print(f"  {other}/gateway uploads/s {spread(ratios(samples, other, 'gateway', lambda s: s.per_second), 2)}, "
                  f"CPU per upload {spread(ratios(samples, other, 'gateway', lambda s: s.cpu_ms_per_upload), 2)}")
        if concurrency == 8:
            noise = noisy([s.per_second for s in samples["flask"]])
            print(f"  goal >= {GOAL_THROUGHPUT}x the bare Flask app at c = 8 (median): "
                  f"{verdict(statistics.median(throughput), GOAL_THROUGHPUT, True, noise)}")
            print(f"  goal CPU per upload <= {GOAL_CPU}x the bare Flask app's (median): "
                  f"{verdict(statistics.median(cpu), GOAL_CPU, False, noise)}")
            print(f"  goal RSS <= {GOAL_RSS}x the bare Flask app's: {verdict(max(rss), GOAL_RSS, False, None)}")
            print("  goal >= 1.5x upstream's FastAPI server: not measured (upstream's server is not available here)")
        results.append({"part": "table", "client": "wrk" if use_wrk else "python", "concurrency": concurrency,
                        "load_average": os.getloadavg(),
                        **{kind: [s.__dict__ for s in kind_samples] for kind, kind_samples in samples.items()}})
    return results


def part_newconn(servers: dict[str, Server], seconds: float) -> list[dict]:
    print(f"\nnewconn: Python client, a new connection per request, c = {NEWCONN_LEVEL} ({load_average()})")
    print(f"  {'server':<8} {'uploads/s min/med/max':>20} | {'p50 ms':>17} | {'p99 ms':>18} | "
          f"{'CPU ms/upload':>18} | RSS MB (PSS)")
    samples = in_turns(list(servers), lambda kind: newconn_run(servers[kind], NEWCONN_LEVEL, seconds))
    for kind, kind_samples in samples.items():
        print_samples(kind, kind_samples)
    print(f"  gateway/flask: uploads/s {spread(ratios(samples, 'gateway', 'flask', lambda s: s.per_second), 2)}, "
          f"gateway/bare: {spread(ratios(samples, 'gateway', 'bare', lambda s: s.per_second), 2)} "
          "(the Python client's own CPU on the same 2 cores caps all servers alike)")
    return [{"part": "newconn", "concurrency": NEWCONN_LEVEL,
             **{kind: [s.__dict__ for s in kind_samples] for kind, kind_samples in samples.items()}}]


def part_drain(workdir: Path, variants: list[str], seconds: float, backlog: int, stores: Path | None) -> list[dict]:
    from drain_workers import DrainWorker, fill_backlog  # noqa: PLC0415  (only this part needs the worker)

    if not have_wrk():
        print("\ndrain: needs wrk on PATH; skipped")
        return []
    where = f"on {describe(stores)}, a filesystem of their own" if stores else "beside the spools"
    print(f"\ndrain: a gateway at c = {NEWCONN_LEVEL} (wrk, keep-alive) with its worker paused, against the same "
          f"gateway while its worker merges a backlog of {backlog} uploads plus what the gateway queues "
          f"(one queue, as in production; local stores {where}); {seconds:g} s per phase")
    template = workdir / "backlog-template"
    began = time.monotonic()
    fill_backlog(template / "queue", backlog)
    print(f"  backlog of {backlog} written in {time.monotonic() - began:.0f} s")
    workers, gateways = {}, {}
    for variant in variants:  # NICE[/MOVE_THREADS][:BUSY_SHARE]; NICE "idle": SCHED_IDLE
        rest, _, share = variant.partition(":")
        nice, _, move_threads = rest.partition("/")
        idle_class = nice == "idle"
        env = {"WORKER_NICE": "0" if idle_class else nice, "QUEUE_MAX_ITEMS": str(10**9),
               **({"WORKER_MOVE_THREADS": move_threads} if move_threads else {}),
               **({"WORKER_BUSY_SHARE": share} if share else {})}
        name = ("sched-idle" if idle_class else f"nice {nice}") + (f" mv {move_threads}" if move_threads else "") \
            + (f" share {share}" if share else "")
        folder = f"worker-{variant.replace('/', '-').replace(':', '-')}"
        workers[name] = DrainWorker(workdir / folder, template, env, stores / folder if stores else None, idle_class)
        gateways[name] = Server("gateway", workdir, {"QUEUE_DIR": str(workers[name].queue_dir)}, f"gw-{folder}")
    samples: dict[str, list[Sample]] = {}
    try:
        for worker in workers.values():
            worker.wait_merging()
            worker.pause()

        merging: dict[str, list[float]] = {name: [0, 0.0] for name in workers}  # merged, seconds

        def phase(key: str) -> Sample:
            name, busy = key.removeprefix("idle "), not key.startswith("idle ")
            worker, gateway = workers[name], gateways[name]
            if busy:
                worker.resume()
                time.sleep(0.5)  # back at work before the load starts
                merged, began = worker.merged(), time.monotonic()
            try:
                return measured(gateway.processes,
                                lambda: wrk_load(gateway.url, NEWCONN_LEVEL, seconds, CSV, AUTHORIZATION, workdir))
            finally:
                if busy:
                    worker.pause()
                    merging[name][0] += worker.merged() - merged
                    merging[name][1] += time.monotonic() - began
                    if worker.waiting() == 0:
                        print(f"  warning: the worker at {name} ran out of backlog: raise --backlog")

        samples = in_turns([key for name in workers for key in (f"idle {name}", name)], phase)
        print(f"  {load_average()}")
        print(f"  {'phase':<22} {'uploads/s min/med/max':>20} | {'p50 ms':>17} | {'p99 ms':>18} | {'CPU ms/upload':>18} | "
              "worker merged/s")
        for key, phase_samples in samples.items():
            merged = f"{merging[key][0] / merging[key][1]:.0f}" if key in workers else "-"
            print(f"  {key:<22} {spread([s.per_second for s in phase_samples]):>20} | "
                  f"{spread([s.p50_ms for s in phase_samples], 1):>17} | {spread([s.p99_ms for s in phase_samples], 1):>18} | "
                  f"{spread([s.cpu_ms_per_upload for s in phase_samples], 2):>18} | {merged}")
        for name in workers:
            noise = noisy([s.per_second for s in samples[f"idle {name}"]])
            busy = ratios(samples, name, f"idle {name}", lambda s: s.per_second)
            print(f"  {name}: busy/idle {spread(busy, 2)}; goal within 10 % of idle (median): "
                  f"{verdict(statistics.median(busy), GOAL_BUSY, True, noise)}")
    finally:
        for worker in workers.values():
            worker.stop()
        for gateway in gateways.values():
            gateway.stop()
    return [{"part": "drain", "load_average": os.getloadavg(),
             **{key: [s.__dict__ for s in phase_samples] for key, phase_samples in samples.items()}}]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per server, level and repetition (default 4)")
    parser.add_argument("--levels", default="1,8,32", help="client concurrency levels of the table (default 1,8,32)")
    parser.add_argument("--parts", default="table,newconn", help="table, newconn, drain (default table,newconn)")
    parser.add_argument("--gthread", action="store_true", help="also the gateway on gunicorn's thread workers")
    parser.add_argument("--threads", default="",
                        help="also the gateway with these GUNICORN_THREADS (e.g. 8,16), taking turns with the others")
    parser.add_argument("--workers", default="10:1,10",
                        help="the drain part's workers: WORKER_NICE[/WORKER_MOVE_THREADS][:WORKER_BUSY_SHARE] each, "
                             "'idle' for SCHED_IDLE, share 1 for no pacing (default 10:1,10: without and with the "
                             "default pacing)")
    parser.add_argument("--backlog", type=int, default=20000, help="uploads per worker in the drain part")
    parser.add_argument("--baseline-ref", default="",
                        help="also the gateway of this git ref ('before'), exported with git archive, taking turns")
    parser.add_argument("--fresh-fs", action="store_true",
                        help="put every server's spool on a new ext4 filesystem (root; bench/fresh_fs.py)")
    parser.add_argument("--store-fs", action="store_true",
                        help="drain part: the workers' local stores on a second new filesystem (root)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        disk = stack.enter_context(fresh_filesystem()) if args.fresh_fs else None
        stores = stack.enter_context(fresh_filesystem()) if args.store_fs else None
        return run(args, Path(tempfile.mkdtemp(prefix="bench-gateway-", dir=disk)), stores)


def run(args: argparse.Namespace, workdir: Path, stores: Path | None = None) -> int:
    parts = set(args.parts.split(","))
    servers: dict[str, Server] = {}
    results: list[dict] = []
    print(f"gunicorn: WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '(default)')} "
          f"GUNICORN_THREADS={os.environ.get('GUNICORN_THREADS', '(default)')}; 10-row CSV ({len(CSV)} bytes); "
          f"{REPETITIONS} repetitions; {load_average()}")
    print(f"spools on: {describe(workdir)}{' (a new filesystem: --fresh-fs)' if args.fresh_fs else ''}")
    try:
        if parts & {"table", "newconn"}:
            for kind in ("gateway", "queue", "flask", "bare", *(("gthread",) if args.gthread else ())):
                servers[kind] = Server(kind, workdir)
            if args.baseline_ref:
                code = export(args.baseline_ref, workdir, ("gateway", "shared", "scheduler", "schemas"))
                servers["before"] = Server("gateway", workdir, {"PYTHONPATH": str(code)}, "before")
            for threads in filter(None, args.threads.split(",")):
                servers[f"gw-t{threads}"] = Server("gateway", workdir, {"GUNICORN_THREADS": threads}, f"gw-t{threads}")
        if "table" in parts:
            results += part_table(servers, [int(level) for level in args.levels.split(",")], args.seconds, workdir)
        if "newconn" in parts:
            results += part_newconn(servers, args.seconds)
        for server in servers.values():
            server.stop()
            shutil.rmtree(server.queue_dir.parent, ignore_errors=True)  # the drain part needs the inodes
        servers.clear()
        if "drain" in parts:
            results += part_drain(workdir, args.workers.split(","), args.seconds, args.backlog, stores)
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
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the servers on kill too
    sys.exit(main())
