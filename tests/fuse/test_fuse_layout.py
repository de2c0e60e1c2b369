"""The on-disk layout of SCHEMA.md section 3 and its appendix, read with plain xarray and zarr."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
import zarr

from fuse_helpers import station_schema, table
from shared.fuse import open_store

REPO = Path(__file__).resolve().parents[2]
COLS = ["timestamp", "lat", "lon", "temp_f", "humidity", "wind"]


def test_a_store_opens_with_plain_xarray_with_values_units_and_times(backend):
    node = open_store(station_schema(backend.attrs()), environ=backend.environ)
    node.update(table([("2026-11-03T08:00Z", 50.0, 15.0, 212, 80, 1)], COLS))
    ds = backend.open_xarray("store.zarr", None)
    assert ds.time.dtype.kind == "M"
    assert str(ds.time.values[0])[:19] == "2026-11-03T08:00:00"
    assert float(ds.temperature.values[0, 0]) == pytest.approx(100.0)
    assert ds.temperature.attrs["unit"] == "degree_Celsius"
    assert ds.temperature.attrs["units"] == "degree_Celsius"
    assert ds.humidity.attrs["unit"] == "percent" and ds.humidity.dtype == np.float32
    assert ds.wind.attrs["unit"] == "meter / second"
    assert ds.temperature.dims == ("time", "station")
    assert ds.lat.dims == ("station",) and ds.station.dtype == np.int64


def test_a_child_node_is_a_group_at_its_node_path(tmp_path):
    environ = {"STORE_ROOT": str(tmp_path)}
    root = open_store(REPO / "schemas" / "sensor_schema_v1.yaml", environ=environ)
    diag = root["diagnostics"]
    assert root["diagnostics"] is diag and root[""] is root
    diag.update(table([("2026-11-01 00:00:00", "BH-1", 3.6, 7.5)],
                      ["timestamp", "sensor_id", "battery", "logger_temperature"]))
    ds = xr.open_zarr(str(tmp_path / "zarr-fuse-ingress/sensor.zarr"), group="diagnostics",
                      consolidated=False)
    assert float(ds.battery.values[0, 0]) == 3.6
    assert str(ds.time.values[0])[:16] == "2026-10-31T23:00"    # "+01:00" logger time


def test_group_attributes_hold_attrs_structure_and_empty_until_the_first_write(local):
    node = open_store(station_schema(local.attrs() | {"description": "stations"}),
                      environ=local.environ)
    group = zarr.open_group(str(local.local_path()), mode="r")
    assert group.attrs["__empty__"] is True
    assert group.attrs["description"] == "stations" and "VERSION" in group.attrs
    node.update(table([("2026-11-03T08:00Z", 50.0, 15.0, 212, 80, 1)], COLS))
    group = zarr.open_group(str(local.local_path()), mode="r")
    assert "__empty__" not in group.attrs
    structure = yaml.safe_load(group.attrs["__structure__"])
    assert list(structure) == ["ATTRS", "COORDS", "VARS"]
    temp = structure["VARS"]["temperature"]
    assert temp["coords"] == ["time", "station"] and temp["unit"] == "degree_Celsius"
    assert temp["source_unit"] == "degree_Fahrenheit" and temp["df_col"] == "temp_f"
    assert temp["range"] is None and "na_value" not in temp and "description" not in temp
    assert structure["VARS"]["lat"]["coords"] == ["station"]
    time = structure["COORDS"]["time"]
    assert time["unit"] == {"tick": "s", "tz": "UTC", "dayfirst": False, "yearfirst": True}
    assert time["sorted"] is True and time["chunk_size"] == 4 and time["step_limits"] == "any_new"
    station = structure["COORDS"]["station"]
    assert station["composed"] == ["lat", "lon"] and station["sorted"] is False


def test_arrays_carry_dimension_names_attributes_and_nan_fill(local):
    node = open_store(station_schema(local.attrs()), environ=local.environ)
    node.update(table([("2026-11-03T08:00Z", 50.0, 15.0, 212, 80, 1)], COLS))
    group = zarr.open_group(str(local.local_path()), mode="r")
    temp = group["temperature"]
    assert temp.metadata.dimension_names == ("time", "station")
    assert np.isnan(temp.fill_value) and temp.chunks == (4, 2)
    assert temp.attrs["df_col"] == "temp_f" and temp.attrs["source_unit"] == "degree_Fahrenheit"
    time = group["time"]
    assert time.dtype == np.int64
    assert time.attrs["units"] == "seconds since 1970-01-01 00:00:00"
    assert time.attrs["calendar"] == "proleptic_gregorian"
    assert time.attrs["sorted"] is True and time.attrs["chunk_size"] == 4
    assert group["station"].attrs["composed"] == ["lat", "lon"]


def test_appends_resize_arrays_and_keep_the_schema_chunk_size(local):
    node = open_store(station_schema(local.attrs()), environ=local.environ)
    for minute in range(0, 60, 10):
        node.update(table([(f"2026-11-03T08:{minute:02d}Z", 50.0, 15.0, 50, 80, minute)], COLS))
    arr = zarr.open_group(str(local.local_path()), mode="r")["wind"]
    assert arr.shape == (6, 1) and arr.chunks == (4, 2)
    assert arr[:, 0].tolist() == [0, 10, 20, 30, 40, 50]


def test_read_df_gives_one_row_per_cell_with_components(local):
    node = open_store(station_schema(local.attrs()), environ=local.environ)
    assert len(node.read_df()) == 0
    node.update(table([("2026-11-03T08:00Z", 50.0, 15.0, 212, 80, 1),
                       ("2026-11-03T08:10Z", 51.0, 16.0, 32, 81, 2)], COLS))
    df = node.read_df()
    assert len(df) == 4
    row = df[(df.lat == 51.0) & (df.time == pd.Timestamp("2026-11-03 08:10"))].iloc[0]
    assert row.wind == 2 and row.temperature == pytest.approx(0.0)


def test_a_node_path_works_at_once_or_one_level_at_a_time(local):
    schema = {"ATTRS": local.attrs(),
              "north site": {"probe 1.a": {"VARS": {"level": {"coords": "t", "unit": "m"}}}}}
    root = open_store(schema, environ=local.environ)
    deep = root["north site/probe 1.a"]
    assert root["north site"]["probe 1.a"] is deep and root["/north site/probe 1.a/"] is deep
    deep.update(table([(1.0, 2.5)], ["t", "level"]))
    ds = xr.open_zarr(str(local.local_path()), group="north site/probe 1.a", consolidated=False)
    assert ds.level.values.tolist() == [2.5] and ds.level.attrs["units"] == "meter"
