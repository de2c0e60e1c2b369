"""``zarr-ingress store repair``: a store damaged the way v1 damaged it (a time of
-9223372037 s) is made readable by plain xarray again, on local disk and on S3."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
import zarr

from shared.fuse import DataError, open_store
from shared.fuse.repair import remove_entries
from shared.fuse.store import open_zarr_store, resolve_location
from shared.fuse.schema import load_schema

from pathlib import Path
from fuse_helpers import assert_opens_with_plain_xarray, station_schema

REPO = Path(__file__).resolve().parents[2]
V1_DAMAGE = -9223372037      # an epoch-ms value read as seconds, overflowed, floor-divided


def damaged_store(backend) -> dict:
    """Two good times x two stations, then one entry appended with raw zarr as v1 wrote it."""
    schema = station_schema(backend.attrs())
    node = open_store(schema, environ=backend.environ)
    node.update(pd.DataFrame({"timestamp": ["2026-01-01T00:00Z", "2026-01-01T01:00Z"] * 2,
                              "lat": ["50", "50", "49", "49"], "lon": ["14", "14", "15", "15"],
                              "temp_f": ["32", "41", "50", "59"]}))
    store = open_zarr_store(resolve_location(load_schema(schema).attrs, backend.environ, "t"),
                            backend.environ)
    group = zarr.open_group(store, mode="r+")
    for name, array in group.arrays():
        dims = list(array.metadata.dimension_names)
        if "time" not in dims:
            continue
        shape = list(array.shape)
        shape[dims.index("time")] += 1
        array.resize(tuple(shape))
        if name == "time":
            array[-1] = V1_DAMAGE
        elif array.dtype.kind == "f":
            array[-1, ...] = 7.0 if name == "temperature" else np.nan
    return schema


def readable(backend) -> xr.Dataset:
    return backend.open_xarray("store.zarr", None).load()


def times_decode(backend) -> bool:
    """Plain xarray opens the store and decodes its times to datetime64 (with cftime installed
    a damaged time gives cftime objects instead of an error)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xr.SerializationWarning)
            return readable(backend)["time"].dtype.kind == "M"
    except (ValueError, OverflowError):
        return False


def test_a_v1_damaged_store_is_repaired_and_opens_with_plain_xarray(backend):
    schema = damaged_store(backend)
    assert not times_decode(backend)              # the damage: xarray cannot decode the time
    if backend.kind == "local":                   # and the after-test check of the suite sees it
        with pytest.raises((ValueError, OverflowError, AssertionError)):
            assert_opens_with_plain_xarray(backend.local_path())
    plan = remove_entries(schema, "", "time", value=str(V1_DAMAGE), dry_run=True,
                          environ=backend.environ)
    assert (plan.indices, plan.values, plan.length) == ([2], [V1_DAMAGE], 3)
    assert plan.arrays["temperature"] == ((3, 2), (2, 2)) and plan.arrays["time"] == ((3,), (2,))
    assert not times_decode(backend)              # a dry run changes nothing
    remove_entries(schema, "", "time", value=str(V1_DAMAGE), environ=backend.environ)
    assert times_decode(backend)
    ds = readable(backend)
    assert [str(t)[:16] for t in ds.time.values] == ["2026-01-01T00:00", "2026-01-01T01:00"]
    assert ds.temperature.values.round(6).tolist() == [[0.0, 10.0], [5.0, 15.0]]
    node = open_store(schema, environ=backend.environ)      # and the engine extends it again
    node.update(pd.DataFrame({"timestamp": ["2026-01-01T02:00Z"], "lat": ["50"], "lon": ["14"],
                              "temp_f": ["50"]}))
    assert readable(backend).sizes["time"] == 3


def test_a_repair_cut_off_half_way_finishes_when_run_again(local):
    schema = damaged_store(local)
    group = zarr.open_group(str(local.local_path()), mode="r+")
    kept = group["temperature"][:2]               # the state a crash after the first array leaves
    group["temperature"].resize((2, 2))
    group["temperature"][...] = kept
    again = remove_entries(schema, "", "time", index=-1, environ=local.environ)
    assert again.arrays["temperature"] == ((2, 2), (2, 2))      # already done: left alone
    assert again.arrays["humidity"] == ((3, 2), (2, 2))
    ds = readable(local)
    assert ds.sizes["time"] == 2 and ds.temperature.values.round(6).tolist() == [[0.0, 10.0], [5.0, 15.0]]


@pytest.mark.damaged_store
def test_a_value_that_is_not_there_names_what_is(local):
    schema = damaged_store(local)
    with pytest.raises(DataError, match=r"coordinate 'time' has no entry '12' .*first 3"):
        remove_entries(schema, "", "time", value="12", environ=local.environ)
    with pytest.raises(DataError, match=r"index 3 is outside coordinate 'time' \(3 entries\)"):
        remove_entries(schema, "", "time", index=3, environ=local.environ)


def test_the_store_repair_command_dry_run_then_repair(local, tmp_path):
    schema = damaged_store(local)
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    env = dict(os.environ, **local.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "shared.cli", "store", "repair", "--schema", str(path),
               "--node", "", "--coord", "time", "--value", str(V1_DAMAGE)]
    dry = subprocess.run(command + ["--dry-run"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert f"index 2: stored value {V1_DAMAGE}" in dry.stdout and "nothing changed" in dry.stdout
    done = subprocess.run(command + ["--json"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["indices"] == [2]
    assert readable(local).sizes["time"] == 2
    missing = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and "has no entry" in missing.stderr
