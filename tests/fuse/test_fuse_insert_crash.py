"""Rule 7 for the streamed insert (journal.py, shift.py): a merge that shifts stored data, cut off
before any one of its store writes (every step, not a sample), leaves a store that opens (and so
repairs) to exactly the store before the merge, but for cells the upload sets in place, or to
the store after it; repeating the upload then gives exactly the store of one merge.

The crash is real: a forked process ends with ``os._exit`` instead of doing its N-th store
mutation (``store_crash_child.py``, around zarr's own LocalStore). The upload inserts times in
the middle and past the end, sets a cell before the insert point and adds a station, in a
store with 3-position time chunks, so the shift crosses chunk boundaries.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from fuse_helpers import table
from shared.fuse import open_store

HERE = Path(__file__).resolve().parent
STORE = "bucket/insert-crash.zarr"
SCHEMA = {"ATTRS": {"store_path": STORE},
          "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": 3},
                     "station": {"type": "str", "sorted": False, "chunk_size": 2}},
          "VARS": {"v1": {"coords": ["time", "station"], "unit": "m"},
                   "v2": {"coords": ["time", "station"], "type": "float32"},
                   "level": {"coords": ["time"], "unit": "m"}}}
TIME_DIMS = {"time", "v1", "v2", "level"}     # the arrays over time
COLS = ["time", "station", "v1", "v2", "level"]
BASE = [(1_700_000_000 + 2 * i, s, i, 10 + i, 100 + i) for i in range(8) for s in ("a", "b", "c")]
UPLOAD = [(1_700_000_007, "a", 7.5, 17.5, None),     # between stored times 6 and 8: position 4
          (1_700_000_007, "d", 1.0, None, 107),      # and a new station
          (1_700_000_002, "b", -1.0, -2.0, -3),       # an in-place cell before the insert point
          (1_700_000_013, "c", 13.5, None, None),        # between 12 and 14
          (1_700_000_030, "a", 30.0, 31.0, 130)]     # past the end
FIRST_CHANGE = 4


class CrashServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "store_crash_child.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def merge(self, root: Path, work: Path, crash_at: int | None = None,
              count_file: Path | None = None) -> str:
        request = {"root": str(root), "schema": str(work / "schema.json"),
                   "upload": str(work / "upload.pkl"), "crash_at": crash_at,
                   "count_file": str(count_file) if count_file else None}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


def snapshot(root: Path) -> dict:
    group = zarr.open_group(str(root / STORE), mode="r")
    out = {"attrs": dict(group.attrs), "members": sorted(n for n, _ in group.members())}
    out.update({name: (arr.shape, arr[...]) for name, arr in group.arrays()})
    return out


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys() or a["attrs"] != b["attrs"] or a["members"] != b["members"]:
        return False
    return all(a[k][0] == b[k][0] and np.array_equal(a[k][1], b[k][1], equal_nan=True)
               for k in a if k not in ("attrs", "members"))


def assert_before(recovered: dict, before: dict, after: dict) -> None:
    """``recovered`` is ``before``, except cells the upload sets in place (same position in
    both stores: before the insert point, or off the time axis), which may hold ``after``'s value."""
    assert recovered.keys() == before.keys()
    assert recovered["attrs"] == before["attrs"] and recovered["members"] == before["members"]
    for name in before:
        if name in ("attrs", "members"):
            continue
        shape, old = before[name]
        assert recovered[name][0] == shape, name
        got = recovered[name][1]
        changed = ~((got == old) | (pd.isna(got) & pd.isna(old)))
        if not changed.any():
            continue
        new = after[name][1][tuple(slice(0, n) for n in shape)]
        in_place = np.ones(shape, dtype=bool)
        if name in TIME_DIMS:
            in_place[FIRST_CHANGE:] = False
        assert (changed <= in_place).all(), f"{name}: shifted cells changed"
        np.testing.assert_array_equal(got[changed], new[changed], err_msg=name)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    work = tmp_path_factory.mktemp("insert-crash")
    seeded = work / "seeded"
    node = open_store(SCHEMA, environ={"STORE_ROOT": str(seeded)})
    node.update(table(BASE, COLS))
    node.close()
    (work / "schema.json").write_text(json.dumps(SCHEMA))
    table(UPLOAD, COLS).to_pickle(work / "upload.pkl")
    server = CrashServer()
    reference = work / "reference"
    shutil.copytree(seeded, reference)
    assert server.merge(reference, work, count_file=work / "count.json") == "exit 0"
    counts = json.loads((work / "count.json").read_text())
    yield server, work, seeded, snapshot(seeded), snapshot(reference), counts
    server.close()


def test_the_upload_shifts_stored_data_across_chunks(setting):
    _, _, _, before, after, counts = setting
    assert counts["open"] == 0                       # opening the store wrote nothing
    assert after["time"][0][0] == before["time"][0][0] + 3
    assert after["v1"][0] == (11, 4) and FIRST_CHANGE // 3 < 11 // 3


def test_a_merge_cut_off_before_any_store_write_recovers_and_repeats_exactly(setting, tmp_path):
    server, work, seeded, before, after, counts = setting
    outcomes = {"before": 0, "after": 0}
    for step in range(1, counts["total"] + 1):
        root = tmp_path / f"step-{step}"
        shutil.copytree(seeded, root)
        assert server.merge(root, work, crash_at=step) == "exit 86", step
        node = open_store(SCHEMA, environ={"STORE_ROOT": str(root)})      # repairs
        recovered = snapshot(root)
        if same(recovered, after):
            outcomes["after"] += 1
        else:
            assert_before(recovered, before, after)
            outcomes["before"] += 1
        node.update(table(UPLOAD, COLS))
        assert same(snapshot(root), after), f"crash before store write {step}: repeated merge"
        assert not (root / STORE / "__journal__").exists()
        shutil.rmtree(root)
    assert outcomes["before"] and outcomes["after"], outcomes
    ds = xr.open_zarr(str(seeded / STORE), consolidated=False).load()     # plain xarray
    assert ds.sizes == {"time": 8, "station": 3}
