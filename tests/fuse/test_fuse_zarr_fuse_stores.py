"""Stores shared both ways with zarr-fuse (SCHEMA.md section 3, rule 4.8 and the appendix).

The other side is ``zarr_fuse_layout``: a writer of zarr-fuse layout stores built from the
appendix with plain zarr. Everything checked about the stores written here is read from the raw
zarr metadata, never through the engine.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr

import zarr_fuse_layout as zf
from fuse_helpers import table as text_table
from shared.fuse import SchemaError, open_store

T0 = 1_780_000_000           # 2026-05-28, seconds since the epoch
STATIONS = [(50.1, 15.2), (49.0, 16.5)]


def borehole_schema(attrs: dict) -> dict:
    """A zarr-fuse schema as a field deployment writes it: time x composed station, and a
    3-D variable over time x borehole (fixed-width strings) x depth (untyped integers)."""
    return yaml.safe_load(f"""
ATTRS: {json.dumps(attrs | {"description": "boreholes"})}
COORDS:
  time: {{unit: {{tick: s, tz: UTC}}, df_col: timestamp, chunk_size: 64}}
  station: {{composed: [lat, lon], chunk_size: 8}}
  borehole: {{type: "str[8]", sorted: false, chunk_size: 8}}
  depth: {{chunk_size: 8}}
VARS:
  lat: {{coords: station, unit: deg}}
  lon: {{coords: station, unit: deg}}
  temperature: {{coords: [time, station], unit: degC, range: {{interval: [-60, 60]}}}}
  count: {{coords: [time, station]}}
  ground_temp: {{coords: [time, borehole, depth], unit: degC, description: soil}}
""")


def zarr_fuse_store(root, keys_of=zf.composed_key) -> zarr.Group:
    """The borehole node as zarr-fuse writes it (``keys_of`` makes the station keys)."""
    time_unit = {"tick": "s", "tz": "UTC", "dayfirst": False, "yearfirst": True}
    coords = {"time": zf.coord_entry("time", unit=time_unit, df_col="timestamp",
                                     type_="datetime64[s]", chunk_size=64),
              "station": zf.coord_entry("station", composed=["lat", "lon"], chunk_size=8,
                                        sorted_=False),
              "borehole": zf.coord_entry("borehole", type_="str[8]", sorted_=False,
                                         chunk_size=8),
              "depth": zf.coord_entry("depth", chunk_size=8)}
    variables = {"lat": zf.entry("lat", ["station"], unit="degree"),
                 "lon": zf.entry("lon", ["station"], unit="degree"),
                 "temperature": zf.entry("temperature", ["time", "station"],
                                         unit="degree_Celsius",
                                         range_={"interval": [-60, 60, "degree_Celsius"]}),
                 "count": zf.entry("count", ["time", "station"]),
                 "ground_temp": zf.entry("ground_temp", ["time", "borehole", "depth"],
                                         unit="degree_Celsius", description="soil")}
    group = zf.create_node(root, "", {"description": "boreholes"}, coords, variables)
    zf.write_node(group, {
        "time": np.array([T0, T0 + 600], dtype=np.int64),
        "station": np.array([keys_of(s) for s in STATIONS], dtype=np.int64),
        "lat": np.array([s[0] for s in STATIONS]), "lon": np.array([s[1] for s in STATIONS]),
        "borehole": np.array(["BH-1", "BH-22"]), "depth": np.array([0, 5, 10]),
        "temperature": np.array([[10.0, 11.0], [12.0, 13.0]]),
        "count": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "ground_temp": np.arange(12, dtype=float).reshape(2, 2, 3)})
    return group


BH_1 = {"borehole": "BH-1", "depth": "0"}     # every upload names every coordinate


def table(rows: list[tuple], columns: list[str], fixed: dict | None = None) -> pd.DataFrame:
    """An upload as the parser gives it (text cells), with ``fixed`` columns on every row."""
    frame = text_table(rows, columns)
    for column, value in (fixed or {}).items():
        frame[column] = value
    return frame


def iso(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()


def other_keys(values: tuple) -> int:
    """Keys made some other way (an earlier version, another process's string hash)."""
    return 1000 + STATIONS.index(values)


@pytest.mark.parametrize("keys_of", [zf.composed_key, other_keys], ids=["hash-keys", "other-keys"])
def test_a_store_written_by_zarr_fuse_opens_reads_and_extends_without_duplicates(local, keys_of):
    path = local.local_path()
    zarr_fuse_store(path, keys_of)
    node = open_store(borehole_schema(local.attrs()), environ=local.environ)
    ds = node.dataset
    assert str(ds.time.values[1])[:19] == "2026-05-28T20:36:40"
    assert ds.temperature.values.tolist() == [[10.0, 11.0], [12.0, 13.0]]
    assert ds.temperature.attrs["units"] == "degree_Celsius"
    assert ds["count"].dtype == np.int64 and ds.depth.dtype == np.int64
    assert ds.borehole.values.tolist() == ["BH-1", "BH-22"]

    node.update(table([(iso(T0 + 1200), 50.1, 15.2, 20.5, 7),     # a station already stored
                       (iso(T0 + 1200), 48.0, 14.0, 21.5, 8),     # a new one
                       (iso(T0), 49.0, 16.5, 19.0, "")],          # stored station, stored time
                      ["timestamp", "lat", "lon", "temperature", "count"], BH_1))
    node.update(pd.DataFrame({"timestamp": [iso(T0), iso(T0)], "borehole": ["BH-1", "BH-333"],
                              "depth": ["15", "5"], "ground_temp": ["1.5", "2.5"],
                              "lat": ["50.1", "50.1"], "lon": ["15.2", "15.2"]}))

    group = zarr.open_group(str(path), mode="r")
    station = group["station"][...].tolist()
    assert len(station) == 3 and station[:2] == [keys_of(s) for s in STATIONS]
    assert station[2] == hash((48.0, 14.0))
    assert list(zip(group["lat"][...].tolist(), group["lon"][...].tolist())) == \
        STATIONS + [(48.0, 14.0)]
    temperature = group["temperature"][...]
    assert temperature[:2].tolist()[0][:2] == [10.0, 19.0] and temperature[1, :2].tolist() == [12.0, 13.0]
    assert temperature[2, 0] == 20.5 and temperature[2, 2] == 21.5
    assert np.isnan(temperature[:2, 2]).all() and np.isnan(temperature[2, 1])
    assert group["count"].dtype == np.int64
    assert group["count"][...].tolist() == [[1, 2, 0], [3, 4, 0], [7, 0, 8]]
    assert group["borehole"].dtype == np.dtype("<U8")
    assert group["borehole"][...].tolist() == ["BH-1", "BH-22", "BH-333"]
    assert group["depth"].dtype == np.int64 and group["depth"][...].tolist() == [0, 5, 10, 15]
    assert group["ground_temp"][0, 0, 3] == 1.5 and group["ground_temp"][0, 2, 1] == 2.5
    assert group["ground_temp"][1, 1, :3].tolist() == [9.0, 10.0, 11.0]
    assert zf.find_entry(group, "station", (48.0, 14.0)) == 2


def appendix_store(local) -> tuple[object, zarr.Group]:
    """A borehole store written here, empty: the group as zarr-fuse readers see it."""
    node = open_store(borehole_schema(local.attrs()), environ=local.environ)
    return node, zarr.open_group(str(local.local_path()), mode="r")


def test_a_store_written_here_has_every_detail_of_the_zarr_fuse_layout(local):
    node, group = appendix_store(local)
    assert group.attrs["__empty__"] is True
    node.update(table([(iso(T0), 50.1, 15.2, 20.5, 7)],
                      ["timestamp", "lat", "lon", "temperature", "count"], BH_1))
    node.update(table([(iso(T0), "BH-1", 5, 2.5, 50.1, 15.2)],
                      ["timestamp", "borehole", "depth", "ground_temp", "lat", "lon"]))
    group = zarr.open_group(str(local.local_path()), mode="r")
    attrs = dict(group.attrs)
    assert "__empty__" not in attrs and attrs["description"] == "boreholes" and "VERSION" in attrs
    structure = yaml.safe_load(attrs["__structure__"])
    assert list(structure) == ["ATTRS", "COORDS", "VARS"]
    assert structure["ATTRS"]["description"] == "boreholes"
    var_keys = ["name", "coords", "unit", "type", "df_col", "source_unit", "range"]
    coord_keys = var_keys + ["composed", "chunk_size", "step_limits", "sorted"]
    for name, spec in structure["COORDS"].items():
        assert set(var_keys) <= set(spec) and set(coord_keys) <= set(spec), name
        assert isinstance(spec["coords"], list) and spec["type"] is not None, name
        assert spec["source_unit"] == spec["unit"], name
    for name, spec in structure["VARS"].items():
        assert set(var_keys) <= set(spec) and "composed" not in spec, name
        assert isinstance(spec["coords"], list) and spec["source_unit"] == spec["unit"], name
        assert "na_value" not in spec
    coords, variables = structure["COORDS"], structure["VARS"]
    assert coords["time"]["unit"] == {"tick": "s", "tz": "UTC", "dayfirst": False,
                                      "yearfirst": True}
    assert coords["borehole"]["composed"] == ["borehole"] and coords["depth"]["composed"] == ["depth"]
    assert coords["station"]["composed"] == ["lat", "lon"] and coords["station"]["type"] == "int64"
    assert coords["borehole"]["type"] == "str[8]" and coords["borehole"]["sorted"] is False
    assert variables["temperature"]["unit"] == "degree_Celsius"
    assert variables["temperature"]["range"]["interval"][:2] == [-60.0, 60.0]
    assert variables["lat"]["unit"] == "degree"
    assert variables["ground_temp"]["description"] == "soil"
    assert variables["count"]["type"] is None and variables["count"]["unit"] is None

    for name, arr in group.arrays():
        spec = coords.get(name) or variables[name]
        assert list(arr.metadata.dimension_names) == spec["coords"], name
        for key in ("unit", "type", "range", "df_col", "source_unit"):
            assert arr.attrs[key] == spec[key], (name, key)
        if name in coords:
            for key in ("composed", "chunk_size", "step_limits", "sorted"):
                assert arr.attrs[key] == spec[key], (name, key)
        if arr.dtype.kind == "f":
            assert math.isnan(arr.fill_value), name
    assert group["time"].dtype == np.int64
    assert group["time"].attrs["units"] == "seconds since 1970-01-01 00:00:00"
    assert group["time"].attrs["calendar"] == "proleptic_gregorian"
    assert group["borehole"].dtype == np.dtype("<U8")
    assert group["count"].dtype == np.int64 and group["depth"].dtype == np.int64
    assert group["station"].dtype == np.int64
    assert group["station"][...].tolist() == [hash((50.1, 15.2))]
    assert group["lat"].metadata.dimension_names == ("station",)
    assert yaml.safe_load(group.attrs["__structure__"])["COORDS"]["depth"]["type"] == "int64"


def test_a_store_written_here_extends_as_zarr_fuse_extends_it_without_duplicates(local):
    node, _ = appendix_store(local)
    node.update(table([(iso(T0), 50.1, 15.2, 20.5, 7), (iso(T0), 49.0, 16.5, 21.0, 9)],
                      ["timestamp", "lat", "lon", "temperature", "count"], BH_1))
    node.close()
    group = zarr.open_group(str(local.local_path()), mode="a")
    at = zf.upsert_station(group, "station", {"lat": 49.0, "lon": 16.5},
                           {"temperature": (0, 25.0)})          # found by its hash() key
    new = zf.upsert_station(group, "station", {"lat": 47.5, "lon": 13.25},
                            {"temperature": (0, 5.0)})
    assert (at, new) == (1, 2) and group["station"].shape == (3,)
    node = open_store(borehole_schema(local.attrs()), environ=local.environ)
    node.update(table([(iso(T0 + 60), 47.5, 13.25, 6.0, 1), (iso(T0 + 60), 50.1, 15.2, 7.0, 2)],
                      ["timestamp", "lat", "lon", "temperature", "count"], BH_1))
    group = zarr.open_group(str(local.local_path()), mode="r")
    assert group["station"][...].tolist() == [hash(s) for s in
                                              [(50.1, 15.2), (49.0, 16.5), (47.5, 13.25)]]
    assert group["temperature"][...].tolist()[0] == [20.5, 25.0, 5.0]
    assert group["temperature"][1, 0] == 7.0 and group["temperature"][1, 2] == 6.0


V1_STORE = Path(__file__).resolve().parent / "data" / "v1_stations.zarr"


def test_a_store_written_by_version_1_opens_and_extends_without_duplicates(local):
    """``data/v1_stations.zarr`` was written by version 1 of this engine: blake2b station keys,
    variable-length strings for ``str[6]``, ``composed: []`` on simple coordinates."""
    path = local.local_path("stations.zarr")
    shutil.copytree(V1_STORE, path)
    old_keys = zarr.open_group(str(path), mode="r")["station"][...].tolist()
    schema = {"ATTRS": local.attrs("stations.zarr"),
              "COORDS": {"time": {"unit": {"tick": "s"}, "df_col": "timestamp", "chunk_size": 4},
                         "station": {"composed": ["lat", "lon"], "chunk_size": 2},
                         "site": {"type": "str[6]", "sorted": False, "chunk_size": 2}},
              "VARS": {"lat": {"coords": "station", "unit": "deg"},
                       "lon": {"coords": "station", "unit": "deg"},
                       "temperature": {"coords": ["time", "station", "site"], "unit": "degC"}}}
    node = open_store(schema, environ=local.environ)
    node.update(pd.DataFrame({"timestamp": ["2026-01-01T00:20Z", "2026-01-01T00:20Z"],
                              "lat": ["50.1", "47.0"], "lon": ["15.2", "13.0"],
                              "site": ["north", "east-1"], "temperature": ["3.5", "4.5"]}))
    group = zarr.open_group(str(path), mode="r")
    assert group["station"][...].tolist() == old_keys + [hash((47.0, 13.0))]
    assert group["site"][...].tolist() == ["north", "south", "east-1"]
    temperature = group["temperature"][...]
    assert temperature.shape == (3, 3, 3)
    assert temperature[0, 0, 0] == 1.5 and temperature[1, 1, 1] == 2.5
    assert temperature[2, 0, 0] == 3.5 and temperature[2, 2, 2] == 4.5
    with pytest.raises(SchemaError, match=r"COORDS/site/type: the store has str\[6\], the schema says str\[9\]"):
        schema["COORDS"]["site"]["type"] = "str[9]"
        open_store(schema, environ=local.environ)
