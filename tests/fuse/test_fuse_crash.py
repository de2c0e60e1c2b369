"""Rule 7: a merge killed with SIGKILL at any moment, then repeated, gives the store of one
uninterrupted merge (journal.py explains how)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zarr

from shared.fuse import open_store

HERE = Path(__file__).resolve().parent
STATIONS = [f"st-{i:02d}" for i in range(8)]
VARIABLES = ["v1", "v2", "v3", "v4", "v5"]
BASE_TIMES = 20_000
SCHEMA = {"ATTRS": {"store_path": "bucket/crash.zarr"},
          "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": 4096},
                     "station": {"type": "str", "sorted": False, "chunk_size": 4}},
          "VARS": {name: {"coords": ["time", "station"], "unit": "m"} for name in VARIABLES}}


def frame(times: np.ndarray, stations: list[str], offset: float) -> pd.DataFrame:
    t = np.repeat(times, len(stations))
    s = np.tile(np.array(stations, dtype=object), len(times))
    data = {"time": t, "station": s}
    for k, name in enumerate(VARIABLES):
        data[name] = (t % 1000) * 0.5 + k + offset
    return pd.DataFrame(data)


def base_upload() -> pd.DataFrame:
    """20,000 even seconds x 5 stations."""
    return frame(np.arange(BASE_TIMES) * 2 + 1_700_000_000, STATIONS[:5], 0.0)


def big_update(kind: str = "insert") -> pd.DataFrame:
    """200,000 rows x 5 variables and three new stations. "insert": new odd seconds between the
    stored ones (stored data shifts) running on past the end; "append": only later seconds."""
    first = 1_700_000_000 + (10_001 if kind == "insert" else 2 * BASE_TIMES)
    return frame(np.arange(0, 25_000) * 2 + first,
                 STATIONS[:5] + STATIONS[6:8] + STATIONS[5:6], 100.0)


def snapshot(path: Path) -> dict:
    group = zarr.open_group(str(path), mode="r")
    out = {"attrs": {k: v for k, v in group.attrs.items()}}
    for name, arr in group.arrays():
        out[name] = (arr.shape, arr[...])
    out["members"] = sorted(name for name, _ in group.members())
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert a["attrs"] == b["attrs"] and a["members"] == b["members"]
    for key in a:
        if key not in ("attrs", "members"):
            assert a[key][0] == b[key][0], key
            np.testing.assert_array_equal(a[key][1], b[key][1], err_msg=key)


@pytest.fixture(scope="module", params=["insert", "append"])
def scenario(request, tmp_path_factory):
    """A seeded store, the update, and the store after one uninterrupted merge."""
    work = tmp_path_factory.mktemp(f"crash-{request.param}")
    seeded = work / "seeded"
    open_store(SCHEMA, environ={"STORE_ROOT": str(seeded)}).update(base_upload())
    (work / "schema.json").write_text(json.dumps(SCHEMA))
    big_update(request.param).to_pickle(work / "update.pkl")
    reference = work / "reference"
    shutil.copytree(seeded, reference)
    duration = run_child(work, reference)
    return work, seeded, snapshot(reference / "bucket/crash.zarr"), duration


def run_child(work: Path, root: Path, kill_after: float | None = None) -> float | bool:
    """Merge the update in a child process; kill it ``kill_after`` s after the merge starts.

    Returns the merge's duration when not killed, else whether the kill hit a running merge."""
    child = subprocess.Popen([sys.executable, str(HERE / "crash_child.py"), str(root),
                              str(work / "schema.json"), str(work / "update.pkl")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "merging"
    if kill_after is None:
        done = child.stdout.readline().split()
        assert child.wait(300) == 0 and done[0] == "done"
        return float(done[1])
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    return child.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.4, 0.6, 0.8, 0.95])
def test_a_merge_killed_midway_and_repeated_equals_one_merge(scenario, tmp_path, fraction):
    work, seeded, reference, duration = scenario
    root = tmp_path / "store"
    shutil.copytree(seeded, root)
    killed = run_child(work, root, kill_after=duration * fraction)
    node = open_store(SCHEMA, environ={"STORE_ROOT": str(root)})      # repairs
    node.update(pd.read_pickle(work / "update.pkl"))
    assert_same(snapshot(root / "bucket/crash.zarr"), reference)
    assert killed or fraction > 0.5     # the early kills must land inside the merge
    assert not (root / "bucket/crash.zarr/__journal__").exists()


@pytest.mark.slow
def test_merging_the_big_update_again_changes_nothing(scenario, tmp_path):
    work, seeded, reference, _ = scenario
    root = tmp_path / "store"
    shutil.copytree(work / "reference", root)
    run_child(work, root)
    assert_same(snapshot(root / "bucket/crash.zarr"), reference)
