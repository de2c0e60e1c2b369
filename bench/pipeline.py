"""Benchmark the whole pipeline: HTTP 202 -> queue -> worker -> store. Prints figures; never pass/fail.

    .venv/bin/python bench/pipeline.py                 # everything, default sizes
    .venv/bin/python bench/pipeline.py --only drain    # one part: stream | drain | complete | gateway

Parts:
  stream   50 simulated loggers post single-row CSVs for --seconds to a gunicorn gateway; a worker
           merges into a store on a moto S3 server. Reports uploads/s accepted, uploads/s merged
           (first 202 to last merge), and the 202-to-merged latency (p50/p95/max).
  drain    a backlog of --backlog single-row uploads queued while no worker runs, then copies of it
           drained into a local store with batching on (WORKER_BATCH_ITEMS default) and off (1 item
           per merge), alternating, --repeat rounds (min / median / max, with the load average).
           Timed from the worker's `started` line to the last merge, so process start-up is not
           counted. With batching off, only the first --off-items are merged (the rest would take
           many minutes) and the full drain time is extrapolated from that rate; --full-off runs all.
  complete the completion step alone (moves of merged items to done/), the same items both ways in
           one run, alternating: per item (Queue.complete in 8 threads, three fsyncs each: the
           protocol before the batch record) and per batch (Queue.complete_batch, 200 items).
  gateway  the gateway's upload rate from 50 loggers while a worker drains a backlog on the same
           machine (local store), against its rate while that worker is paused (SIGSTOP);
           the phases alternate so that other load on the machine affects both alike.

Everything runs on 127.0.0.1 in a temporary folder, with real processes (see tests/e2e/e2e_stack.py).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]

import requests  # noqa: E402

from e2e_stack import MotoServer, Stack, wait_until  # noqa: E402
from shared.queue import Queue  # noqa: E402

HEADER = "timestamp,tree_id,sap_flow,stem_temperature\n"


def logger_row(logger: int, step: int) -> str:
    minutes = step * 10
    return (f"2026-06-{1 + minutes // 1440:02d} {minutes // 60 % 24:02d}:{minutes % 60:02d}:00,"
            f"logger-{logger:02d},{(logger * 7 + step) % 900},{step % 30}.5\n")


def post_from_loggers(stack: Stack, loggers: int, seconds: float, first_step: int = 0) -> tuple[int, float, int]:
    """Each logger posts its next single-row CSV as soon as the previous one got a 202."""
    counts = [0] * loggers
    refused = [0]
    deadline = time.monotonic() + seconds

    def run(logger: int) -> None:
        session = requests.Session()
        step = first_step
        url = f"{stack.gateway_url}/api/v1/tree"
        while time.monotonic() < deadline:
            response = session.post(url, data=(HEADER + logger_row(logger, step)).encode(),
                                    headers={"Content-Type": "text/csv"}, timeout=30)
            if response.status_code == 202:
                counts[logger] += 1
                step += 1
            else:
                refused[0] += 1
                time.sleep(0.05)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(loggers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.monotonic() - started, refused[0]


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def log_time(line: str) -> float:
    return stamp(re.search(r"ts=(\S+)", line).group(1))


def bench_stream(root: Path, loggers: int, seconds: float) -> None:
    moto = MotoServer(root, root)
    moto.create_bucket()
    stack = Stack(root / "stream", s3_endpoint_url=moto.url, extra_env={"LOG_LEVEL": "WARNING"})
    try:
        stack.start_gateway(workers=4)
        stack.start_worker()
        time.sleep(3)  # worker start-up (imports) is not what is measured
        accepted, elapsed, refused = post_from_loggers(stack, loggers, seconds)
        stack.wait_drained(accepted, timeout=600)
        done = [item.sidecar for item in Queue(stack.queue_dir).items("done")]
        latencies = sorted(stamp(s.merged_at) - stamp(s.received_at) for s in done)
        first_received = min(stamp(s.received_at) for s in done)
        last_merged = max(stamp(s.merged_at) for s in done)
        batches = len({s.batch for s in done})
        print(f"stream: {loggers} loggers, {seconds:.0f} s, single-row CSVs, store on moto S3")
        print(f"  accepted       {accepted} uploads, {accepted / elapsed:.1f}/s ({refused} refused)")
        print(f"  merged         {len(done)} uploads in {batches} batches, "
              f"{len(done) / (last_merged - first_received):.1f}/s sustained (first 202 to last merge)")
        print(f"  202->merged    p50 {statistics.median(latencies):.2f} s, "
              f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s, max {latencies[-1]:.2f} s")
    finally:
        stack.close()
        moto.close()


def fill_backlog(queue_dir: Path, uploads: int, loggers: int = 50, threads: int = 1) -> float:
    """`uploads` single-row CSVs queued through Queue.enqueue; in `threads` threads the fsyncs
    overlap (ids stay in acceptance order: the counter is under flock)."""
    from concurrent.futures import ThreadPoolExecutor

    queue = Queue(queue_dir)
    started = time.monotonic()

    def enqueue(index: int) -> None:
        queue.enqueue("tree", (HEADER + logger_row(index % loggers, index // loggers)).encode(), format="csv")

    if threads == 1:
        for index in range(uploads):
            enqueue(index)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(enqueue, range(uploads)))
    return time.monotonic() - started


def load_average() -> str:
    return "load average " + ", ".join(f"{value:.1f}" for value in os.getloadavg())


def drain(root: Path, name: str, template: Path, batch_items: int | None, stop_after: int | None) -> tuple[float, int]:
    """Seconds from the worker's `started` line to the `stop_after`-th merge of a copy of `template`."""
    extra = {"LOG_LEVEL": "INFO"} | ({"WORKER_BATCH_ITEMS": str(batch_items)} if batch_items else {})
    stack = Stack(root / name, store_root=root / name / "stores", extra_env=extra)
    try:
        shutil.copytree(template, stack.queue_dir)
        backlog = Queue(stack.queue_dir).counts()["accepted"]["tree"]
        worker = stack.start_worker()
        target = stop_after or backlog
        stack.wait_drained(target, timeout=3600)
        worker.stop()
        lines = worker.log().splitlines()
        started = log_time(next(line for line in lines if "event=started" in line))
        merged = [log_time(line) for line in lines if "event=merged" in line]
        merged.sort()
        return merged[target - 1] - started, target
    finally:
        stack.close()
        shutil.rmtree(root / name, ignore_errors=True)


def spread(figures: list[float], unit: str = "s") -> str:
    return (f"min {min(figures):.1f} / median {statistics.median(figures):.1f} / max {max(figures):.1f} {unit}"
            if len(figures) > 1 else f"{figures[0]:.1f} {unit}")


def bench_drain(root: Path, backlog: int, off_items: int, full_off: bool, repeat: int) -> None:
    """Batching on (the default WORKER_BATCH_ITEMS) and off (1 item per merge), interleaved, on
    copies of one backlog, so that the machine's other load hits both alike."""
    template = root / "backlog"
    filled = fill_backlog(template, backlog, threads=8)
    print(f"drain: backlog of {backlog} single-row uploads from 50 loggers (queued in {filled:.0f} s), "
          f"local store, {repeat} rounds alternating")
    count = backlog if full_off else min(off_items, backlog)
    on: list[float] = []
    off: list[float] = []
    for round_ in range(1, repeat + 1):
        print(f"  round {round_}: {load_average()}")
        seconds, _ = drain(root, f"batched-{round_}", template, None, None)
        on.append(seconds)
        print(f"    batching on  (default batch)   {seconds:.1f} s  ({backlog / seconds:.0f} uploads/s)")
        print(f"  round {round_}: {load_average()}")
        seconds, merged = drain(root, f"one-by-one-{round_}", template, 1, None if full_off else count)
        off.append(seconds / merged * backlog)
        how = "measured" if merged == backlog else f"extrapolated from the first {merged}"
        print(f"    batching off (1 item/merge)    {off[-1]:.1f} s {how}  ({merged / seconds:.1f} uploads/s)")
    print(f"  batching on                      {spread(on)}   (goal < 20 s)")
    print(f"  batching off                     {spread(off)}")
    ratios = [b / a for a, b in zip(on, off)]
    print(f"  speed-up with batching           {spread(ratios, 'x')} (per round)   (goal >= 20x)")
    print(f"  {load_average()}")


def bench_complete(root: Path, items: int, rounds: int = 2, batch: int = 200) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def per_item(queue: Queue, chunk: list) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: queue.complete(item, rows=1, batch=chunk[0].id), chunk))

    def per_batch(queue: Queue, chunk: list, pool: ThreadPoolExecutor) -> None:
        queue.complete_batch(chunk, [{"rows": 1}] * len(chunk), chunk[0].id, pool=pool)

    seconds: dict[str, list[float]] = {"per item": [], "per batch": []}
    for repetition in range(rounds):
        for way in ("per item", "per batch"):
            queue_dir = root / f"complete-{repetition}-{way.replace(' ', '-')}"
            fill_backlog(queue_dir, items)
            queue = Queue(queue_dir)
            waiting = queue.scan("tree")
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                for start in range(0, len(waiting), batch):
                    chunk = waiting[start:start + batch]
                    per_item(queue, chunk) if way == "per item" else per_batch(queue, chunk, pool)
            seconds[way].append(time.perf_counter() - started)
            assert queue.counts()["done"]["tree"] == items
    print(f"complete: {items} merged items to done/ in batches of {batch}, {rounds} rounds alternating")
    for way, figures in seconds.items():
        print(f"  {way:<10} {min(figures):.2f}-{max(figures):.2f} s  ({items / min(figures):.0f} items/s at best)")
    print(f"  speed-up   {min(seconds['per item']) / min(seconds['per batch']):.1f}x (best of each)")


def bench_gateway(root: Path, loggers: int, seconds: float, backlog: int) -> None:
    """Idle and busy phases alternate (the worker paused with SIGSTOP, resumed with SIGCONT), so a
    slow drift in the machine's other load hits both alike."""
    # A backlog is the point here: lift the gateway's queue-depth limit (it answers 503 above it).
    stack = Stack(root / "gateway", store_root=root / "gateway" / "stores",
                  extra_env={"LOG_LEVEL": "WARNING", "QUEUE_MAX_ITEMS": "1000000"})
    rounds = 3
    try:
        stack.start_gateway(workers=2)
        post_from_loggers(stack, loggers, 2)  # warm-up
        fill_backlog(stack.queue_dir, backlog)
        worker = stack.start_worker()
        wait_until(lambda: stack.count("done") > 0, 120, "worker merging")
        totals = {"idle": [0, 0.0], "busy": [0, 0.0]}
        step = 1000
        for _ in range(rounds):
            for phase in ("idle", "busy"):
                worker.signal(signal.SIGSTOP if phase == "idle" else signal.SIGCONT)
                time.sleep(0.5)
                count, elapsed, _ = post_from_loggers(stack, loggers, seconds / rounds, first_step=step)
                step += 1000
                totals[phase][0] += count
                totals[phase][1] += elapsed
        worker.signal(signal.SIGCONT)
        idle_rate = totals["idle"][0] / totals["idle"][1]
        busy_rate = totals["busy"][0] / totals["busy"][1]
        print(f"gateway: {loggers} loggers, {rounds} x {seconds / rounds:.0f} s per phase, alternating, "
              f"2 gunicorn workers")
        print(f"  worker idle (paused)          {idle_rate:.1f} uploads/s")
        print(f"  worker merging a backlog      {busy_rate:.1f} uploads/s  ({stack.count('done')} merged in all)")
        print(f"  change                        {100 * (busy_rate - idle_rate) / idle_rate:+.1f}%")
    finally:
        stack.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("stream", "drain", "complete", "gateway"))
    parser.add_argument("--loggers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--off-items", type=int, default=1000)
    parser.add_argument("--full-off", action="store_true", help="drain the whole backlog one upload at a time")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the drain (min / median / max)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="zarr-ingress-bench-") as folder:
        root = Path(folder)
        if args.only in (None, "stream"):
            bench_stream(root, args.loggers, args.seconds)
        if args.only in (None, "drain"):
            bench_drain(root, args.backlog, args.off_items, args.full_off, args.repeat)
        if args.only in (None, "complete"):
            bench_complete(root, min(args.backlog, 4000))
        if args.only in (None, "gateway"):
            bench_gateway(root, args.loggers, args.seconds, min(args.backlog, 5000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
