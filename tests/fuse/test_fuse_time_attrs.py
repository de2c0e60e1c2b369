"""What stored date-times and missing floats say about themselves (SCHEMA.md sections 2 and 4.3),
read back with plain xarray and zarr: UTC values with the source zone under ``source_tz``, and
NaN, never the ``na_value`` sentinel, where a float cell was never written."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml
import zarr

from fuse_helpers import table
from shared.fuse import open_store

PRAGUE = {"tick": "s", "tz": "Europe/Prague"}
COLS = ["timestamp", "lat", "lon", "temperature", "serviced"]
# Local logger times, one in summer (UTC+2) and one in winter (UTC+1); `serviced` is written
# by a technician in CET all year.
ROWS = [("2026-07-01 12:00:00", 50.1, 15.2, 21.5, "2026-06-30 09:00:00"),
        ("2026-12-01 12:00:00", 50.1, 15.2, -3.0, "2026-06-30 09:00:00")]
UTC_TIMES = ["2026-07-01T10:00:00", "2026-12-01T11:00:00"]


def prague_schema(attrs: dict) -> dict:
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": PRAGUE, "df_col": "timestamp", "chunk_size": 4},
                       "station": {"composed": ["lat", "lon"], "chunk_size": 2}},
            "VARS": {"lat": {"coords": "station", "unit": "deg"},
                     "lon": {"coords": "station", "unit": "deg"},
                     "temperature": {"coords": ["time", "station"], "unit": "degC"},
                     "serviced": {"coords": "station", "unit": {"tick": "s", "tz": "CET"}}}}


def raw_files(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}


def test_stored_times_are_utc_with_the_source_zone_under_source_tz(local):
    node = open_store(prague_schema(local.attrs()), environ=local.environ)
    node.update(table(ROWS, COLS))
    ds = local.open_xarray("store.zarr", None)
    assert [str(t)[:19] for t in ds.time.values] == UTC_TIMES
    assert ds.time.attrs["unit"]["tz"] == "UTC" and ds.time.attrs["source_tz"] == "Europe/Prague"
    assert ds.time.encoding["units"] == "seconds since 1970-01-01 00:00:00"
    assert ds.time.encoding["calendar"] == "proleptic_gregorian"
    assert str(ds.serviced.values[0])[:19] == "2026-06-30T08:00:00"
    assert ds.serviced.attrs["unit"]["tz"] == "UTC" and ds.serviced.attrs["source_tz"] == "CET"

    group = zarr.open_group(str(local.local_path()), mode="r")
    time = group["time"]
    assert time.attrs["unit"] == {"tick": "s", "tz": "UTC", "dayfirst": False, "yearfirst": True}
    assert time.attrs["source_tz"] == "Europe/Prague"
    assert time.attrs["units"] == "seconds since 1970-01-01 00:00:00"
    expected = [int(pd.Timestamp(t, tz="UTC").timestamp()) for t in UTC_TIMES]
    assert time[...].tolist() == expected                    # int64 seconds of the UTC instants
    # The schema as written stays in __structure__: its tz says how input is read.
    structure = yaml.safe_load(group.attrs["__structure__"])
    assert structure["COORDS"]["time"]["unit"]["tz"] == "Europe/Prague"
    assert "source_tz" not in structure["COORDS"]["time"]


def test_a_source_unit_zone_is_the_source_tz_of_utc_values(local):
    schema = {"ATTRS": local.attrs(),
              "COORDS": {"time": {"unit": {"tick": "s"}, "source_unit": {"tick": "s", "tz": "+03:00"}}},
              "VARS": {"v": {"coords": "time", "type": "float64"}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([("2026-03-01 03:00:00", 1.5)], ["time", "v"]))
    ds = local.open_xarray("store.zarr", None)
    assert str(ds.time.values[0])[:19] == "2026-03-01T00:00:00"
    assert ds.time.attrs["unit"]["tz"] == "UTC" and ds.time.attrs["source_tz"] == "+03:00"


def test_a_store_with_the_earlier_time_attributes_reopens_unchanged_and_extends(local):
    node = open_store(prague_schema(local.attrs()), environ=local.environ)
    node.update(table(ROWS[:1], COLS))
    node.close()
    # As the earlier version wrote them: the schema's own unit, zone and all, no source_tz.
    group = zarr.open_group(str(local.local_path()), mode="a")
    for name in ("time", "serviced"):
        attrs = dict(group[name].attrs)
        attrs.pop("source_tz", None)
        attrs["unit"] = dict(attrs["unit"], tz=attrs["source_unit"]["tz"])
        group[name].attrs.put(attrs)
    before = raw_files(local.local_path())

    node = open_store(prague_schema(local.attrs()), environ=local.environ)
    assert raw_files(local.local_path()) == before             # reopening writes nothing
    node.update(table(ROWS[1:], COLS))
    ds = local.open_xarray("store.zarr", None)
    assert [str(t)[:19] for t in ds.time.values] == UTC_TIMES
    assert ds.temperature.values[:, 0].tolist() == [21.5, -3.0]


def test_a_float_cell_never_written_is_nan_not_its_na_value(local):
    schema = {"ATTRS": local.attrs(),
              "COORDS": {"t": {"type": "float64", "chunk_size": 2},
                         "site": {"type": "str", "sorted": False, "chunk_size": 2}},
              "VARS": {"level": {"coords": ["t", "site"], "type": "float64", "na_value": -999},
                       "flow": {"coords": ["t", "site"], "type": "float32", "na_value": -9999.0}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([(1, "a", 5.0, 0.5), (2, "b", "-999", 0.25)], ["t", "site", "level", "flow"]))
    node.update(table([(3, "a", 7.0)], ["t", "site", "level"]))       # no flow column at all
    group = zarr.open_group(str(local.local_path()), mode="r")
    for name in ("level", "flow"):
        assert math.isnan(group[name].fill_value), name
    level, flow = group["level"][...], group["flow"][...]
    # t x site = [1, 2, 3] x [a, b]: (1, b), (2, a), (3, b) were never written; (2, b) was -999
    assert level[0, 0] == 5.0 and level[2, 0] == 7.0
    assert np.isnan(level[[0, 1, 1, 2], [1, 0, 1, 1]]).all(), level
    assert flow[0, 0] == np.float32(0.5) and flow[1, 1] == np.float32(0.25)
    assert np.isnan(flow[[0, 1, 2, 2], [1, 0, 0, 1]]).all(), flow
    ds = local.open_xarray("store.zarr", None)
    assert np.isnan(ds.level.values[1, 0]) and ds.level.attrs["na_value"] == -999
