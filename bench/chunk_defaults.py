"""Benchmark: the first merge into a 3-D node with defaulted chunk sizes (issue 11, item 6).

    .venv/bin/python bench/chunk_defaults.py [--rows 2000]

A time x station x table schema without any chunk_size (as zarr-fuse users write them). Before
the chunk defaults of SCHEMA.md (revised), each 3-D variable got 1024^3-cell chunks (8 GB of
float64) and the worker was killed on its first merge. Each case runs in its own process, so
its peak RSS (max RSS) is its own; the baseline of the same run is the same merge with
explicit small chunks (64 per dimension) and a process that only imports the engine.
Prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
import numpy as np, pandas as pd
from shared.fuse import load_schema, open_store
case, rows, store = sys.argv[1], int(sys.argv[2]), sys.argv[3]
chunk = {{"chunk_size": 64}} if case == "explicit" else {{}}
schema = load_schema({{
    "ATTRS": {{"STORE_URL": store}},
    "COORDS": {{"time": {{"unit": {{"tick": "s"}}, **chunk}}, "station": {{"type": "str", **chunk}},
               "table": {{"type": "str[8]", "sorted": False, **chunk}}}},
    "VARS": {{name: {{"coords": ["time", "station", "table"], "unit": "degC"}}
             for name in ("temperature", "humidity", "pressure")}}}})
shape = schema.node_schema("").chunk_shape(schema.node_schema("").vars["temperature"])
seconds = 0.0
if case != "import":
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({{
        "time": pd.date_range("2024-01-01", periods=rows, freq="10min").strftime("%Y-%m-%dT%H:%M:%S"),
        "station": [f"st-{{i % 20:02d}}" for i in range(rows)],
        "table": [("hourly", "daily", "6h")[i % 3] for i in range(rows)],
        **{{name: rng.normal(10, 5, rows).round(2).astype(str) for name in ("temperature", "humidity", "pressure")}}}})
    start = time.perf_counter()
    open_store(schema).update(frame)
    seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "chunk": list(shape)}}))
"""


def run(case: str, rows: int, folder: Path) -> dict:
    code = CHILD.format(repo=str(REPO))
    done = subprocess.run([sys.executable, "-c", code, case, str(rows), str(folder / f"{case}.zarr")],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"first merge of {args.rows} rows into time x station x table (3 variables)")
        for case, label in (("import", "import only (baseline)"),
                            ("explicit", "explicit chunk_size 64 (baseline)"),
                            ("default", "defaulted chunk sizes")):
            result = run(case, args.rows, Path(tmp))
            if "error" in result:
                print(f"  {label:<36} failed: {result['error']}")
                continue
            print(f"  {label:<36} {result['seconds']:7.2f} s   peak RSS {result['max_rss_mb']:7.0f} MB"
                  f"   chunk {tuple(result['chunk'])}")


if __name__ == "__main__":
    main()
