"""Rule 9 for late data: an insert before the end of a sorted coordinate rewrites the shifted
part chunk by chunk (shift.py), so the memory a merge holds is a few chunks, not the shifted
data and its backup, and the chunks before the insert point are not written."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from shared.fuse import open_store

TIMES, STATIONS, TIME_CHUNK = 8_000, 32, 100
VARS = ("a", "b", "c")


def schema(root: Path) -> dict:
    return {"ATTRS": {"STORE_URL": str(root)},
            "COORDS": {"time": {"type": "int64", "chunk_size": TIME_CHUNK},
                       "station": {"type": "str", "sorted": False, "chunk_size": STATIONS}},
            "VARS": {v: {"coords": ["time", "station"], "type": "float64"} for v in VARS}}


def seeded(root: Path, times: int = TIMES):
    node = open_store(schema(root))
    t = np.repeat(np.arange(times, dtype=np.int64) * 10, STATIONS)
    s = np.tile(np.array([f"s{i}" for i in range(STATIONS)], dtype=object), times)
    node.update(pd.DataFrame({"time": t, "station": s, **{v: t * (k + 0.5) for k, v in enumerate(VARS)}}))
    return node


def one_row(when: int) -> pd.DataFrame:
    return pd.DataFrame({"time": [when], "station": ["s3"], **{v: [1.5] for v in VARS}})


def insert_peak(root: Path, times: int) -> int:
    """Peak bytes allocated while merging one row before all ``times`` stored times."""
    node = seeded(root, times)
    prepared = node.prepare(one_row(-5))
    tracemalloc.start()
    try:
        node.merge([prepared])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_insert_at_the_start_holds_a_few_chunks_not_the_data_it_shifts(tmp_path):
    peak = insert_peak(tmp_path / "s.zarr", TIMES)
    shifted = TIMES * STATIONS * 8 * len(VARS)           # 6.1 MB move (the old code held 2x)
    chunks = TIME_CHUNK * STATIONS * 8 * len(VARS)       # one chunk of each variable: 77 kB
    assert peak < shifted / 2, (peak, shifted, chunks)
    ds = xr.open_zarr(str(tmp_path / "s.zarr"), consolidated=False)    # plain xarray
    assert ds.sizes == {"time": TIMES + 1, "station": STATIONS}
    assert ds.time.values[:2].tolist() == [-5, 0]
    np.testing.assert_array_equal(ds.a.values[1:, 0], np.arange(TIMES) * 5.0)
    assert ds.a.values[0, 3] == 1.5 and np.isnan(ds.a.values[0, 0])


def test_an_insert_near_the_end_leaves_the_chunks_before_it_alone(tmp_path):
    root = tmp_path / "s.zarr"
    node = seeded(root)
    before = {p: p.stat().st_mtime_ns for p in root.glob("*/c/*/*")}   # array/c/time/station
    node.update(one_row(10 * (TIMES - 3) + 5))                  # into the last time chunk
    last = (TIMES - 1) // TIME_CHUNK
    rewritten = {p for p in root.glob("*/c/*/*")
                 if before.get(p) != p.stat().st_mtime_ns}
    assert rewritten and {int(p.parent.name) for p in rewritten} <= {last, last + 1}, sorted(rewritten)
    ds = xr.open_zarr(str(root), consolidated=False)
    assert ds.time.values[-4:].tolist() == [10 * (TIMES - 3), 10 * (TIMES - 3) + 5,
                                            10 * (TIMES - 2), 10 * (TIMES - 1)]
