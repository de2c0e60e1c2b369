"""Benchmark: a one-row insert at the start, middle and end of a sorted time coordinate (issue 11,
item 4). A benchmark, not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/late_inserts.py [--sizes 10000,100000] [--big] [--baseline-ref main]

Nodes of N times x 10 stations x 3 float variables (time chunk 4096, the project schemas'
size). An insert before the end shifts every stored value after it: the cost should grow with
the shifted part only, and memory should stay a few chunks whatever N. Each insert runs in a
fresh process on its own copy of the store, so its peak RSS (ru_maxrss) is its own; "merge RSS"
is the peak minus the peak before the merge (the opened node, its coordinate cache, imports).

``--baseline-ref REF`` (default ``main``) also runs the engine of that git ref, exported with
``git archive`` into a temporary folder, on the same stores in the same run (``1d625bb^`` is
the engine before streaming); ``--baseline-ref ''`` skips it. ``--big`` adds N = 1,000,000 (a 240 MB store; seeding it takes a few minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from git_export import export

REPO = Path(__file__).resolve().parents[1]
STATIONS = 10
STEP = 600                      # seconds between stored times
T0 = 1_700_000_000
SEED_BATCH = 20_000             # times per seeding merge: bounded memory while seeding
POSITIONS = ("start", "middle", "end")


def schema(root: str) -> dict:
    return {"ATTRS": {"STORE_URL": root},
            "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": 4096},
                       "station": {"type": "str", "sorted": False, "chunk_size": STATIONS}},
            "VARS": {name: {"coords": ["time", "station"], "unit": "degC"}
                     for name in ("temperature", "humidity", "pressure")}}


def insert_time(position: str, n_times: int) -> int:
    return {"start": T0 - STEP, "middle": T0 + STEP * (n_times // 2) + STEP // 2,
            "end": T0 + STEP * n_times}[position]


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import pandas as pd
from shared.fuse import open_store
schema, when = json.loads(sys.argv[2]), int(sys.argv[3])
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
node = open_store(schema)
table = node.prepare(pd.DataFrame({"time": [str(when)], "station": ["st-00"],
                                   "temperature": ["1.5"], "humidity": ["2.5"], "pressure": ["3.5"]}))
before = peak_mb()
start = time.perf_counter()
node.merge([table])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rss_before_mb": before, "rss_peak_mb": peak_mb()}))
"""


SEED = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, pandas as pd
from shared.fuse import open_store
schema, n_times, batch, step, t0, count_stations = (__import__("json").loads(sys.argv[2]),
                                                   *map(int, sys.argv[3:8]))
node = open_store(schema)
stations = np.array([f"st-{i:02d}" for i in range(count_stations)], dtype=object)
rng = np.random.default_rng(0)
for first in range(0, n_times, batch):
    count = min(batch, n_times - first)
    times = np.repeat(t0 + step * np.arange(first, first + count, dtype=np.int64), count_stations)
    frame = {"time": times, "station": np.tile(stations, count)}
    for name in ("temperature", "humidity", "pressure"):
        frame[name] = rng.normal(10, 5, len(times)).round(2)
    node.update(pd.DataFrame(frame))
node.close()
"""


def seed(store: Path, n_times: int) -> None:
    """Fill a store with ``n_times`` x 10 stations through the engine, a batch at a time, in
    a child process: this process stays small, because a child's ru_maxrss starts from the
    size of the process that forked it."""
    subprocess.run([sys.executable, "-c", SEED, str(REPO), json.dumps(schema(str(store))),
                    str(n_times), str(SEED_BATCH), str(STEP), str(T0), str(STATIONS)], check=True)


def run_insert(code: Path, seeded: Path, work: Path, n_times: int, position: str) -> dict:
    store = work / "insert.zarr"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(seeded, store)
    try:
        done = subprocess.run([sys.executable, "-c", CHILD, str(code), json.dumps(schema(str(store))),
                               str(insert_time(position, n_times))],
                              capture_output=True, text=True, timeout=3600)
    finally:
        shutil.rmtree(store, ignore_errors=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(label: str, n_times: int, position: str, r: dict) -> str:
    if "error" in r:
        return f"{label:<9} {n_times:>9,} x {STATIONS}  {position:<6}  failed: {r['error']}"
    return (f"{label:<9} {n_times:>9,} x {STATIONS}  {position:<6}  {r['seconds'] * 1000:9.1f} ms"
            f"   peak RSS {r['rss_peak_mb']:6.0f} MB   merge RSS +{r['rss_peak_mb'] - r['rss_before_mb']:5.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="stored times, comma-separated")
    parser.add_argument("--big", action="store_true", help="add 1,000,000 stored times")
    parser.add_argument("--positions", default=",".join(POSITIONS), help="start,middle,end")
    parser.add_argument("--baseline-ref", default="main", help="git ref of the old engine ('' to skip)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.big else [])
    positions = [p for p in args.positions.split(",") if p in POSITIONS]
    print(f"== one-row insert into N times x {STATIONS} stations x 3 variables "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    work = Path(tempfile.mkdtemp(prefix="fuse-late-"))
    try:
        codes = {"new": REPO}
        if args.baseline_ref:
            codes[args.baseline_ref] = export(args.baseline_ref, work, ("shared",))  # the engine alone
        results: dict[tuple[str, int, str], dict] = {}
        for n_times in sizes:
            seeded = work / f"seed-{n_times}.zarr"
            start = time.perf_counter()
            seed(seeded, n_times)
            print(f"   (seeded {n_times:,} x {STATIONS} in {time.perf_counter() - start:.1f} s)", flush=True)
            for position in positions:
                for label, code in codes.items():      # old and new on the same store, in turn
                    r = results[label, n_times, position] = run_insert(code, seeded, work, n_times,
                                                                       position)
                    print(line(label, n_times, position, r), flush=True)
            shutil.rmtree(seeded, ignore_errors=True)
        print(f"== growth from {sizes[0]:,} to {sizes[-1]:,} stored times "
              f"(x{sizes[-1] / sizes[0]:.0f}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
        for label in codes:
            for position in positions:
                a, b = results[label, sizes[0], position], results[label, sizes[-1], position]
                if "error" in a or "error" in b:
                    continue
                grow_a = a["rss_peak_mb"] - a["rss_before_mb"]
                grow_b = b["rss_peak_mb"] - b["rss_before_mb"]
                print(f"{label:<9} {position:<6}  time x{b['seconds'] / a['seconds']:6.1f}"
                      f"   merge RSS {grow_a:5.0f} -> {grow_b:5.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
