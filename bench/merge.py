"""Benchmark of the merge engine (a benchmark, not a test: it prints figures, asserts nothing).

    .venv/bin/python bench/merge.py [--appends 400] [--repeats 3] [--big-times 10000] [--skip-s3]

1. Appends: single-row uploads (string cells, as the parser gives them), one after another, to
   an open 3-variable time x station node, on a local directory and on a moto S3 server (a real
   server process on 127.0.0.1, reached through a counting proxy so requests are counted on the
   server's side of the wire). Plain zarr (resize + write of the same arrays, the same s3fs
   settings) runs in the same loop, one append of each in turn, 3 times: min / median / max of
   ms per append and S3 requests per append. With the time chunk of the project schemas (4096)
   and a small one (256): a single-row append re-encodes one chunk per array, so the chunk size
   sets the floor for both.
2. One big table (time x 100 stations x 4 variables, 1,000,000 rows by default) merged into an
   empty node and again into the full node (all overlap), against xarray's Dataset.to_zarr of
   the same data; each phase in its own process so peak memory (max RSS) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "fuse"))    # the counting proxy the tests use

from counting_proxy import CountingProxy  # noqa: E402
from shared.fuse import open_store  # noqa: E402
from shared.fuse.store import Location, open_zarr_store  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"
STATIONS3 = ["st-a", "st-b", "st-c"]


def append_schema(attrs: dict, time_chunk: int = 4096) -> dict:
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": time_chunk},
                       "station": {"type": "str", "sorted": False, "chunk_size": 64}},
            "VARS": {name: {"coords": ["time", "station"], "unit": "degC"}
                     for name in ("temperature", "humidity", "pressure")}}


def big_schema(attrs: dict) -> dict:
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": 4096},
                       "station": {"type": "str", "sorted": False, "chunk_size": 100}},
            "VARS": {name: {"coords": ["time", "station"]} for name in ("a", "b", "c", "d")}}


# ---- a moto server behind a counting proxy ---------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Moto:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                      "-p", str(self.port)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        import boto3
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=KEY,
                     aws_secret_access_key=SECRET, region_name="us-east-1"
                     ).create_bucket(Bucket="bench")
        self.proxy = CountingProxy(self.port)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ---- 1. appends ------------------------------------------------------------------------------
def append_row(i: int) -> pd.DataFrame:
    """Upload ``i`` as the parser gives it: one row, every cell a string."""
    return pd.DataFrame({"time": [str(1_790_000_000 + 600 * i)], "station": [STATIONS3[i % 3]],
                         "temperature": [str(10 + i % 7)], "humidity": [str(80 - i % 5)],
                         "pressure": [str(1000 + i % 11)]})


class EngineAppends:
    """Single-row uploads through the engine: ``update`` (prepare + merge) of an open node."""

    def __init__(self, environ: dict, attrs: dict, time_chunk: int) -> None:
        self.node = open_store(append_schema(attrs, time_chunk), environ=environ)

    def append(self, i: int, row: pd.DataFrame) -> None:
        self.node.update(row)

    def close(self) -> None:
        self.node.close()


class PlainAppends:
    """The floor: resize + write the same arrays with zarr, no conversion, no checks."""

    def __init__(self, store, time_chunk: int) -> None:
        import zarr
        self.store = store
        group = zarr.open_group(store=store, mode="w", zarr_format=3)
        self.time = group.create_array("time", shape=(0,), dtype="int64", chunks=(time_chunk,))
        station = group.create_array("station", shape=(3,), dtype=str, chunks=(64,))
        station[:] = np.array(STATIONS3, dtype=object)
        self.arrays = [group.create_array(v, shape=(0, 3), dtype="float64", chunks=(time_chunk, 64),
                                          fill_value=np.nan)
                       for v in ("temperature", "humidity", "pressure")]

    def append(self, i: int, row: pd.DataFrame) -> None:
        for arr in self.arrays:
            arr.resize((i + 1, 3))
            arr[i, i % 3] = 10.0
        self.time.resize((i + 1,))
        self.time[i] = 1_790_000_000 + 600 * i

    def close(self) -> None:
        fs = getattr(self.store, "fs", None)          # s3fs: close its session while zarr's loop runs
        if getattr(fs, "_s3", None) is not None:
            from zarr.core.sync import sync
            sync(fs._s3.close())
            fs._s3 = None


def interleaved(writers: dict, n: int, proxy=None) -> dict[str, dict]:
    """Append ``n`` rows to each writer, one append of each in turn (so load on the machine hits
    all alike); mean ms per append over the last half, S3 requests per append of the last half."""
    times = {label: [] for label in writers}
    requests = {label: [] for label in writers}
    for i in range(n):
        row = append_row(i)
        for label, writer in writers.items():
            before = proxy.total() if proxy else 0
            start = time.perf_counter()
            writer.append(i, row)
            times[label].append(time.perf_counter() - start)
            requests[label].append((proxy.total() - before) if proxy else 0)
    for writer in writers.values():
        writer.close()
    half = n // 2
    return {label: {"ms": float(np.mean(times[label][half:])) * 1000,
                    "requests": float(np.mean(requests[label][half:])),
                    "max_requests": max(requests[label][half:])} for label in writers}


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """min / median / max."""
    return " / ".join(fmt.format(v) for v in (min(values), float(np.median(values)), max(values)))


def report_appends(label: str, runs: list[dict[str, dict]], s3: bool) -> None:
    ours, plain = [r["engine"]["ms"] for r in runs], [r["plain zarr"]["ms"] for r in runs]
    speed = [p / o for p, o in zip(plain, ours)]     # appends/s of ours over plain zarr's
    print(f"{label:<16} engine {spread(ours)} ms/append   plain zarr {spread(plain)} ms/append   "
          f"engine speed {spread(speed)}x plain zarr's (goal >= 0.9)", flush=True)
    if s3:
        mine = [r["engine"]["requests"] for r in runs]
        base = [r["plain zarr"]["requests"] for r in runs]
        worst = max(r["engine"]["max_requests"] for r in runs)
        print(f"{'':<16} S3 requests/append: engine {spread(mine, '{:.1f}')} (max {worst}),"
              f" plain zarr {spread(base, '{:.1f}')} (goal <= plain + 2)", flush=True)


def bench_appends(n: int, repeats: int, skip_s3: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="fuse-bench-"))
    try:
        import zarr
        for chunk in (4096, 256):    # a single-row append rewrites one whole chunk per array
            runs = []
            for rep in range(repeats):
                writers = {"engine": EngineAppends({"STORE_ROOT": str(work)},
                                                   {"store_path": f"bench/e{chunk}-{rep}.zarr"}, chunk),
                           "plain zarr": PlainAppends(zarr.storage.LocalStore(
                               str(work / f"plain{chunk}-{rep}.zarr")), chunk)}
                runs.append(interleaved(writers, n))
            report_appends(f"local, chunk {chunk}", runs, s3=False)
        if not skip_s3:
            moto = Moto()
            try:
                environ = {"S3_ACCESS_KEY": KEY, "S3_SECRET_KEY": SECRET,
                           "S3_ENDPOINT_URL": moto.proxy.url}
                runs = []
                for rep in range(repeats):
                    # plain zarr on the same s3fs settings as the engine's store
                    location = Location("s3", f"bench/plain-{rep}.zarr", moto.proxy.url)
                    writers = {"engine": EngineAppends(environ, {"store_path": f"bench/e-{rep}.zarr"},
                                                       4096),
                               "plain zarr": PlainAppends(open_zarr_store(location, environ), 4096)}
                    runs.append(interleaved(writers, n, proxy=moto.proxy))
                report_appends("moto S3, 4096", runs, s3=True)
            finally:
                moto.stop()
                moto.proxy.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- 2. one big table ------------------------------------------------------------------------
def big_table(n_times: int) -> pd.DataFrame:
    stations = np.array([f"st-{i:03d}" for i in range(100)], dtype=object)
    t = np.repeat(np.arange(n_times, dtype=np.int64) * 600 + 1_790_000_000, 100)
    rng = np.random.default_rng(0)
    data = {"time": pd.to_datetime(t, unit="s"), "station": np.tile(stations, n_times)}
    for name in ("a", "b", "c", "d"):
        data[name] = rng.normal(size=len(t))
    return pd.DataFrame(data)


def big_phase(phase: str, root: str, n_times: int) -> dict:
    table = big_table(n_times)
    out: dict = {"rows": len(table)}
    if phase == "to_zarr":
        ds = table.set_index(["time", "station"]).to_xarray()
        start = time.perf_counter()
        ds.to_zarr(os.path.join(root, "plain.zarr"), mode="w", consolidated=False,
                   encoding={v: {"chunks": (4096, 100)} for v in ("a", "b", "c", "d")})
        out["seconds"] = time.perf_counter() - start
    else:
        node = open_store(big_schema({"store_path": "bench/big.zarr"}), environ={"STORE_ROOT": root})
        start = time.perf_counter()
        prepared = node.prepare(table)
        out["prepare"] = time.perf_counter() - start
        node.merge([prepared])
        out["seconds"] = time.perf_counter() - start
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["table_mb"] = table.memory_usage(deep=True).sum() / 2**20
    return out


def run_phase(phase: str, root: str, n_times: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--root", root,
                          "--big-times", str(n_times)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_big(n_times: int) -> None:
    root = tempfile.mkdtemp(prefix="fuse-bench-big-")
    try:
        results = {p: run_phase(p, root, n_times) for p in ("to_zarr", "engine-empty", "engine-full")}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = results["to_zarr"]["seconds"]
    for phase, r in results.items():
        extra = f"   (of which prepare {r['prepare']:.2f} s)" if "prepare" in r else ""
        print(f"{phase:<14} {r['rows']:>9,} rows  {r['seconds']:6.2f} s  "
              f"{r['rows'] / r['seconds']:>11,.0f} rows/s  {r['seconds'] / base:5.2f}x to_zarr  "
              f"peak RSS {r['max_rss_mb']:7.0f} MB (input table {r['table_mb']:.0f} MB){extra}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-times", type=int, default=10_000, help="times x 100 stations")
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--phase")
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(big_phase(args.phase, args.root, args.big_times)))
        return
    print(f"== {args.appends} single-row appends to a 3-variable time x station node, engine and "
          f"plain zarr interleaved, {args.repeats} runs (min / median / max; last half of each run; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    bench_appends(args.appends, args.repeats, args.skip_s3)
    if not args.skip_big:
        print(f"== one table of {args.big_times * 100:,} rows (time x 100 stations x 4 variables)")
        bench_big(args.big_times)


if __name__ == "__main__":
    main()
