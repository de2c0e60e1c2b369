"""Benchmark of the merge engine (a benchmark, not a test: it prints figures, asserts nothing).

    .venv/bin/python bench/merge.py [--appends 1000] [--big-times 10000] [--skip-s3]

1. Appends: single-row uploads, one after another, to an open 3-variable time x station node,
   on a local directory and on a moto S3 server (a real server process on 127.0.0.1, reached
   through a counting proxy so requests are counted on the server's side of the wire).
   Compared with plain zarr (resize + write of the same arrays) in the same run, with the time
   chunk of the project schemas (4096) and a small one (256): a single-row append re-encodes
   one chunk per array, so the chunk size sets the floor for both.
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
def append_rows(n: int):
    for i in range(n):
        yield pd.DataFrame({"time": [str(1_790_000_000 + 600 * i)],
                            "station": [STATIONS3[i % 3]],
                            "temperature": [str(10 + i % 7)], "humidity": [str(80 - i % 5)],
                            "pressure": [str(1000 + i % 11)]})


def bench_appends(label: str, environ: dict, attrs: dict, n: int, proxy=None,
                  time_chunk: int = 4096) -> None:
    node = open_store(append_schema(attrs, time_chunk), environ=environ)
    times, requests = [], []
    for row in append_rows(n):
        before = proxy.total() if proxy else 0
        start = time.perf_counter()
        node.update(row)
        times.append(time.perf_counter() - start)
        requests.append((proxy.total() - before) if proxy else 0)
    node.close()
    first, last = np.mean(times[:100]) * 1000, np.mean(times[-100:]) * 1000
    line = (f"{label:<22} first 100: {first:7.2f} ms/append   last 100: {last:7.2f} ms/append"
            f"   {1 / np.mean(times[-100:]):7.1f} appends/s")
    if proxy:
        line += (f"   S3 requests/append: first 100 {np.mean(requests[:100]):.1f},"
                 f" last 100 {np.mean(requests[-100:]):.1f}, max {max(requests[1:])}")
    print(line, flush=True)


def bench_plain_zarr_appends(path: Path, n: int, time_chunk: int = 4096) -> None:
    """The floor: resize + write the same arrays with zarr, no conversion, no checks."""
    import zarr
    group = zarr.open_group(str(path), mode="w")
    time_arr = group.create_array("time", shape=(0,), dtype="int64", chunks=(time_chunk,))
    station = group.create_array("station", shape=(3,), dtype=str, chunks=(64,))
    station[:] = np.array(STATIONS3, dtype=object)
    arrays = [group.create_array(v, shape=(0, 3), dtype="float64", chunks=(time_chunk, 64),
                                 fill_value=np.nan) for v in ("temperature", "humidity", "pressure")]
    times = []
    for i in range(n):
        start = time.perf_counter()
        for arr in arrays:
            arr.resize((i + 1, 3))
            arr[i, i % 3] = 10.0
        time_arr.resize((i + 1,))
        time_arr[i] = 1_790_000_000 + 600 * i
        times.append(time.perf_counter() - start)
    print(f"{f'plain zarr (local{time_chunk})':<22} first 100: {np.mean(times[:100]) * 1000:7.2f} ms/append"
          f"   last 100: {np.mean(times[-100:]) * 1000:7.2f} ms/append", flush=True)


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
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--big-times", type=int, default=10_000, help="times x 100 stations")
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--phase")
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(big_phase(args.phase, args.root, args.big_times)))
        return
    print(f"== {args.appends} single-row appends to a 3-variable time x station node")
    work = Path(tempfile.mkdtemp(prefix="fuse-bench-"))
    try:
        for chunk in (4096, 256):    # a single-row append rewrites one whole chunk per array
            bench_plain_zarr_appends(work / f"plain{chunk}.zarr", args.appends, chunk)
            bench_appends(f"engine (local{chunk})", {"STORE_ROOT": str(work)},
                          {"store_path": f"bench/appends{chunk}.zarr"}, args.appends,
                          time_chunk=chunk)
        if not args.skip_s3:
            moto = Moto()
            try:
                environ = {"S3_ACCESS_KEY": KEY, "S3_SECRET_KEY": SECRET,
                           "S3_ENDPOINT_URL": moto.proxy.url}
                bench_appends("engine (moto S3 4096)", environ, {"store_path": "bench/appends.zarr"},
                              args.appends, proxy=moto.proxy)
            finally:
                moto.stop()
                moto.proxy.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.skip_big:
        print(f"== one table of {args.big_times * 100:,} rows (time x 100 stations x 4 variables)")
        bench_big(args.big_times)


if __name__ == "__main__":
    main()
