"""Tables and datasets as zarr-fuse users hand them over: polars DataFrames, xarray Datasets.

Every merge here is checked against the same rows merged as a pandas table: a Dataset or a
polars table must give exactly what its rows give (same upsert rules, SCHEMA.md section 4).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

from fuse_helpers import snapshot, station_schema, table
from shared.fuse import DataError, open_store

polars = pytest.importorskip("polars")

TIMES = pd.to_datetime(["2026-11-03T08:00Z", "2026-11-03T08:10Z"]).tz_localize(None)


def assert_same_store(a, b) -> None:
    """Every array equal, NaN where NaN (the snapshots' lists compare NaN as unequal)."""
    left, right = snapshot(a), snapshot(b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name][0] == right[name][0], name
        np.testing.assert_array_equal(np.array(left[name][1]), np.array(right[name][1]), err_msg=name)


def grid_schema(attrs: dict) -> dict:
    """time x lat x lon forecast grid, as a GRIB field comes (lat/lon named by df_col)."""
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": {"tick": "s", "tz": "UTC"}, "chunk_size": 4},
                       "lat": {"unit": "deg", "df_col": "latitude", "chunk_size": 4},
                       "lon": {"unit": "deg", "df_col": "longitude", "chunk_size": 4}},
            "VARS": {"temperature": {"coords": ["time", "lat", "lon"], "unit": "degC",
                                     "source_unit": "K", "df_col": "t2m"}}}


def grid_dataset(values: np.ndarray, times=TIMES) -> xr.Dataset:
    return xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), values)},
        coords={"time": times, "latitude": [50.0, 49.5], "longitude": [14.0, 14.5, 15.0]},
    )


def test_merge_ds_equals_merging_its_rows_as_a_table(local, tmp_path):
    values = 273.15 + np.arange(12, dtype=float).reshape(2, 2, 3)
    ds_node = open_store(grid_schema(local.attrs("ds.zarr")), environ=local.environ)
    ds_node.merge_ds(grid_dataset(values))
    table_node = open_store(grid_schema(local.attrs("table.zarr")), environ=local.environ)
    table_node.update(grid_dataset(values).to_dataframe().reset_index())
    assert_same_store(local.local_path("ds.zarr"), local.local_path("table.zarr"))
    read = local.open_xarray("ds.zarr", None)["temperature"].sel(lat=[50.0, 49.5])  # stored sorted: 49.5 first
    np.testing.assert_allclose(read.values, values - 273.15)


def test_merge_ds_upserts_a_second_field_over_the_first(local):
    node = open_store(grid_schema(local.attrs()), environ=local.environ)
    node.merge_ds(grid_dataset(np.full((2, 2, 3), 280.0)))
    later = pd.to_datetime(["2026-11-03T08:10Z", "2026-11-03T08:20Z"]).tz_localize(None)
    summary = node.merge_ds(grid_dataset(np.full((2, 2, 3), 290.0), later))
    assert summary.new_values == {"time": 1, "lat": 0, "lon": 0}
    read = local.open_xarray("store.zarr", None)["temperature"].values
    np.testing.assert_allclose(read[0], 280.0 - 273.15)
    np.testing.assert_allclose(read[1:], 290.0 - 273.15)


def test_merge_ds_with_schema_names_and_a_single_step_dimension(local):
    # Named by the schema (lat, lon, temperature) rather than df_col, with GRIB's one-value step.
    ds = xr.Dataset({"temperature": (("step", "time", "lat", "lon"), np.full((1, 2, 2, 3), 275.0))},
                    coords={"step": [0], "time": TIMES, "lat": [50.0, 49.5], "lon": [14.0, 14.5, 15.0]})
    node = open_store(grid_schema(local.attrs()), environ=local.environ)
    node.merge_ds(ds)
    np.testing.assert_allclose(local.open_xarray("store.zarr", None)["temperature"].values, 275.0 - 273.15)


def test_merge_ds_refuses_a_dimension_the_node_has_no_coordinate_for(local):
    ds = xr.Dataset({"t2m": (("number", "time", "latitude", "longitude"), np.zeros((3, 2, 2, 3)))},
                    coords={"number": [0, 1, 2], "time": TIMES, "latitude": [50.0, 49.5],
                            "longitude": [14.0, 14.5, 15.0]})
    node = open_store(grid_schema(local.attrs()), environ=local.environ)
    with pytest.raises(DataError, match="dataset dimension 'number' \\(3 values\\) is not a coordinate"):
        node.merge_ds(ds)
    assert not local.local_path().exists() or "temperature" not in local.open_xarray("store.zarr", None) \
        or local.open_xarray("store.zarr", None).sizes.get("time", 0) == 0


def test_merge_ds_without_any_variable_of_the_node_names_what_it_expected(local):
    ds = xr.Dataset({"u10": (("time",), [1.0, 2.0])}, coords={"time": TIMES})
    node = open_store(grid_schema(local.attrs()), environ=local.environ)
    with pytest.raises(DataError, match="no variable of node '/': expected one of t2m; it has u10"):
        node.merge_ds(ds)


def test_merge_ds_with_a_composed_station_coordinate(local):
    ds = xr.Dataset(
        {"temp_f": (("timestamp", "station"), [[32.0, 50.0], [41.0, 59.0]]),
         "lat": (("station",), [50.0, 51.0]), "lon": (("station",), [15.0, 16.0])},
        coords={"timestamp": TIMES, "station": [0, 1]},
    )
    node = open_store(station_schema(local.attrs()), environ=local.environ)
    node.merge_ds(ds)
    read = local.open_xarray("store.zarr", None)
    assert read["lat"].values.tolist() == [50.0, 51.0]
    np.testing.assert_allclose(read["temperature"].values, [[0.0, 10.0], [5.0, 15.0]], atol=1e-9)


def test_update_takes_a_polars_dataframe_like_the_same_pandas_table(local):
    rows = {"timestamp": ["2026-11-03T08:00Z", "2026-11-03T08:00Z", "2026-11-03T08:10Z"],
            "lat": [50.0, 51.0, 50.0], "lon": [15.0, 16.0, 15.0], "temp_f": [32.0, 50.0, None],
            "humidity": [80, 81, 82], "wind": [1.5, 2.5, 3.5]}
    open_store(station_schema(local.attrs("polars.zarr")), environ=local.environ).update(polars.DataFrame(rows))
    open_store(station_schema(local.attrs("pandas.zarr")), environ=local.environ).update(pd.DataFrame(rows))
    assert_same_store(local.local_path("polars.zarr"), local.local_path("pandas.zarr"))


def test_update_refuses_a_table_of_another_kind(local):
    node = open_store(station_schema(local.attrs()), environ=local.environ)
    with pytest.raises(DataError, match="expected a pandas or polars DataFrame, got builtins.dict"):
        node.update({"timestamp": ["2026-11-03T08:00Z"]})


@settings(max_examples=15, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.floats(250, 320)), min_size=1, max_size=12))
def test_merge_ds_of_random_fields_matches_a_plain_model(tmp_path_factory, cells):
    """Several fields merged one after another: the store holds the last value given per cell."""
    root = tmp_path_factory.mktemp("grid")
    node = open_store(grid_schema({"store_path": "b/s.zarr"}), environ={"STORE_ROOT": str(root)})
    model: dict[tuple, float] = {}
    base = pd.Timestamp("2026-11-03T08:00")
    for t, x, value in cells:
        when = base + pd.Timedelta(minutes=10 * t)
        node.merge_ds(xr.Dataset({"t2m": (("time", "latitude", "longitude"), [[[value]]])},
                                 coords={"time": [when], "latitude": [50.0], "longitude": [14.0 + x]}))
        model[(when, 14.0 + x)] = value - 273.15
    read = xr.open_zarr(str(root / "b" / "s.zarr"), consolidated=False)
    for (when, lon), expected in model.items():
        got = float(read["temperature"].sel(time=when, lon=lon).values.item())
        assert got == pytest.approx(expected)
