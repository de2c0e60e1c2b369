"""2-D merges: time x station with a composed [lat, lon] key, unsorted string coordinates,
time zones across a daylight-saving change, and the real schemas with their sample uploads."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse_helpers import station_schema, table
from shared.fuse import open_store
from shared.fuse.convert import composed_keys

REPO = Path(__file__).resolve().parents[2]
COLS = ["timestamp", "lat", "lon", "temp_f", "humidity", "wind"]
nan = np.nan


def grid(node, name):
    return node.dataset[name].values


def seeded_stations(backend):
    node = open_store(station_schema(backend.attrs()), environ=backend.environ)
    node.update(table([("2026-11-03T08:00Z", 50.0, 15.0, 32, 80, 1),
                       ("2026-11-03T08:00Z", 51.0, 16.0, 50, 81, 2),
                       ("2026-11-03T08:10Z", 50.0, 15.0, 41, 82, 3),
                       ("2026-11-03T08:10Z", 51.0, 16.0, 59, 83, 4)], COLS))
    return node


def test_a_new_time_and_a_new_station_in_one_row(backend):
    node = seeded_stations(backend)
    summary = node.update(table([("2026-11-03T08:20Z", 52.0, 17.0, 68, 90, 9)], COLS))
    assert summary.new_values == {"time": 1, "station": 1}
    assert grid(node, "lat").tolist() == [50.0, 51.0, 52.0]
    assert grid(node, "lon").tolist() == [15.0, 16.0, 17.0]
    np.testing.assert_allclose(grid(node, "temperature"),
                               [[0, 10, nan], [5, 15, nan], [nan, nan, 20]], atol=1e-9)
    np.testing.assert_array_equal(grid(node, "wind"), [[1, 2, nan], [3, 4, nan], [nan, nan, 9]])


def test_an_update_naming_some_stations_keeps_the_others(backend):
    node = seeded_stations(backend)
    node.update(table([("2026-11-03T08:10Z", 51.0, 16.0, None, 99, 7)], COLS))
    np.testing.assert_array_equal(grid(node, "humidity"), [[80, 81], [82, 99]])
    np.testing.assert_array_equal(grid(node, "wind"), [[1, 2], [3, 7]])
    np.testing.assert_allclose(grid(node, "temperature"), [[0, 10], [5, 15]], atol=1e-9)


def test_a_new_station_keeps_lat_and_lon_of_the_others(backend):
    node = seeded_stations(backend)
    node.update(table([("2026-11-03T08:00Z", 49.5, 14.5, None, None, 5)], COLS))
    assert grid(node, "lat").tolist() == [50.0, 51.0, 49.5]
    assert grid(node, "lon").tolist() == [15.0, 16.0, 14.5]
    np.testing.assert_array_equal(grid(node, "wind"), [[1, 2, 5], [3, 4, nan]])
    df = node.read_df()
    assert set(df.columns) >= {"time", "station", "lat", "lon", "temperature", "humidity", "wind"}
    assert len(df) == 6


def test_inserting_an_earlier_time_shifts_all_stations(backend):
    node = seeded_stations(backend)
    node.update(table([("2026-11-03T07:50Z", 51.0, 16.0, 41, None, 8)], COLS))
    times = node.dataset.time.values.astype("datetime64[m]").astype(str).tolist()
    assert times == ["2026-11-03T07:50", "2026-11-03T08:00", "2026-11-03T08:10"]
    np.testing.assert_array_equal(grid(node, "wind"), [[nan, 8], [1, 2], [3, 4]])
    np.testing.assert_array_equal(grid(node, "humidity"), [[nan, nan], [80, 81], [82, 83]])


def test_an_unsorted_string_coordinate_with_inserts_in_two_dimensions(backend):
    schema = {"ATTRS": backend.attrs(),
              "COORDS": {"time": {"unit": {"tick": "s", "tz": "Europe/Prague"}, "chunk_size": 3},
                         "tree": {"type": "str", "sorted": False, "chunk_size": 2}},
              "VARS": {"flow": {"coords": ["time", "tree"], "unit": "g/h"}}}
    node = open_store(schema, environ=backend.environ)
    node.update(table([("2026-06-14 06:00", "oak", 1), ("2026-06-14 06:00", "beech", 2)],
                      ["time", "tree", "flow"]))
    node.update(table([("2026-06-14 05:00", "spruce", 3), ("2026-06-14 06:00", "ash", 4),
                       ("2026-06-14 07:00", "oak", 5)], ["time", "tree", "flow"]))
    assert grid(node, "tree").tolist() == ["oak", "beech", "spruce", "ash"]
    np.testing.assert_array_equal(grid(node, "flow"), [[nan, nan, 3, nan], [1, 2, nan, 4],
                                                       [5, nan, nan, nan]])
    hours = node.dataset.time.values.astype("datetime64[h]").astype(str).tolist()
    assert hours == ["2026-06-14T03", "2026-06-14T04", "2026-06-14T05"]   # CEST is UTC+2


def test_local_times_across_a_daylight_saving_change_are_stored_in_utc(backend):
    unit = {"tick": "m", "tz": "Europe/Prague"}
    node = open_store(station_schema(backend.attrs(), unit), environ=backend.environ)
    local = ["2026-03-29 01:30", "2026-03-29 03:30", "2026-10-25 01:30", "2026-10-25 03:30",
             "2026-10-25T02:30+01:00"]
    node.update(table([(t, 50, 15, 32, 50, i) for i, t in enumerate(local)], COLS))
    utc = node.dataset.time.values.astype("datetime64[m]").astype(str).tolist()
    assert utc == ["2026-03-29T00:30", "2026-03-29T01:30", "2026-10-24T23:30",
                   "2026-10-25T01:30", "2026-10-25T02:30"]
    assert node._arrays["time"].attrs["units"] == "minutes since 1970-01-01 00:00:00"


def test_composed_keys_are_the_same_in_another_process():
    here = composed_keys([np.array([50.7663, 0.0]), np.array([15.0543, -0.0])]).tolist()
    code = ("import numpy as np; from shared.fuse.convert import composed_keys; "
            "print(composed_keys([np.array([50.7663, 0.0]), np.array([15.0543, -0.0])]).tolist())")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == str(here)
    assert len(set(here)) == 2


@pytest.mark.parametrize("name", ["sensor", "tree", "weather"])
def test_the_real_schemas_merge_their_sample_uploads(tmp_path, name):
    environ = {"STORE_ROOT": str(tmp_path)}
    node = open_store(REPO / "schemas" / f"{name}_schema_v1.yaml", environ=environ)
    upload = pd.read_csv(REPO / "test_data" / name / "default.csv", dtype=str,
                         keep_default_na=False)
    first = node.update(upload)
    again = node.update(upload)
    assert first.rows == again.rows == len(upload)
    assert all(n == 0 for n in again.new_values.values())
    df = node.read_df()
    assert len(df) >= len(upload)
    if name == "weather":
        ds = node.dataset
        assert ds.temperature.attrs["units"] == "degree_Celsius"
        assert float(ds.temperature.sel(station=ds.station[0]).values[0]) == pytest.approx(5.0)
