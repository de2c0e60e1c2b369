"""SCHEMA.md section 1: the node tree, keys and defaults, and strict validation."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shared.fuse import DataError, FuseError, SchemaError, StoreError, load_schema
from shared.fuse.units import DateTimeUnit

REPO = Path(__file__).resolve().parents[2]

SCHEMA_MD_EXAMPLE = """
ATTRS:
  description: Weather stations
  s3_url: https://s3.example.org
  store_path: my-bucket/weather.zarr
COORDS:
  time:
    unit: {tick: s, tz: Europe/Prague}
    df_col: timestamp
    chunk_size: 4096
  station:
    composed: [lat, lon]
VARS:
  temperature: {unit: degC, source_unit: degF, df_col: temp_f, coords: [time, station],
                range: {interval: [-60, 60]}, description: air temperature 2 m}
  humidity:    {unit: "%", type: float32, coords: [time, station]}
  lat:         {unit: deg, coords: station}
  lon:         {unit: deg, coords: station}
north_site:
  VARS:
    level: {coords: [time], unit: m}
  "probe 1.a":
    ATTRS: {description: a child with a space and a dot}
"""


def write(tmp_path: Path, text: str, name: str = "weather.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("name", ["sensor", "tree", "weather"])
def test_the_project_schemas_load(name):
    schema = load_schema(REPO / "schemas" / f"{name}_schema_v1.yaml")
    assert schema.node_schema("").dims[0] == "time"


def test_the_schema_md_example_loads_with_its_defaults(tmp_path):
    schema = load_schema(write(tmp_path, SCHEMA_MD_EXAMPLE))
    assert set(schema.nodes) == {"", "north_site", "north_site/probe 1.a"}
    root = schema.node_schema("/")
    time, station = root.coords["time"], root.coords["station"]
    assert time.unit == DateTimeUnit("s", "Europe/Prague", False, True)
    assert time.sorted and time.chunk_size == 4096 and time.step_limits == "any_new"
    assert time.df_col == "timestamp" and time.dtype == "datetime64[s]"
    assert station.composed == ("lat", "lon") and not station.sorted and station.chunk_size == 64
    temp = root.vars["temperature"]
    assert temp.dtype == "float64" and temp.range.lo == -60 and temp.df_col == "temp_f"
    assert root.vars["humidity"].dtype == "float32" and root.vars["lat"].coords == ("station",)
    assert root.required_columns() == ["timestamp", "lat", "lon"]
    assert root.variable_columns() == ["temp_f", "humidity"]
    child = schema.node_schema("north_site")
    assert child.coords["time"].unit is None and child.coords["time"].chunk_size == 1024
    assert schema.node_schema("north_site/probe 1.a").attrs["description"].startswith("a child")


def test_a_mapping_loads_like_a_file():
    schema = load_schema({"VARS": {"v": {"coords": "t"}}})
    assert schema.node_schema("").coords["t"].sorted is True
    assert schema.source == "<schema>"


@pytest.mark.parametrize("snippet, message", [
    ("VARS: {temperature: {coords: [time], dtype: float32}}",
     r"weather\.yaml: VARS/temperature/dtype: unknown key, did you mean 'type'\?"),
    ("COORDS: {time: {chunksize: 10}}",
     r"weather\.yaml: COORDS/time/chunksize: unknown key, did you mean 'chunk_size'\?"),
    ("VAR: {temperature: {coords: [time]}}",
     r"weather\.yaml: VAR: unknown key, did you mean 'VARS'\?"),
    ("VARS: {t: {coords: [time], unit: degrees_celsius_x}}",
     r"weather\.yaml: VARS/t/unit: undefined unit 'degrees_celsius_x'"),
    ("VARS: {t: {coords: [time], unit: C, source_unit: degF}}",
     r"VARS/t/source_unit: cannot convert 'degF' .* to 'C' .*'C' is coulomb in pint, Celsius is 'degC'"),
    ("VARS: {t: {coords: [time], unit: m, source_unit: s}}",
     r"VARS/t/source_unit: cannot convert 's'"),
    ("COORDS: {station: {composed: [lat, elevation]}}\nVARS: {lat: {coords: station}}",
     r"COORDS/station/composed: composed component 'elevation' is not a variable"),
    ("VARS: {t: {coords: [time], range: {interval: [10, -10]}}}",
     r"VARS/t/range/interval: lower bound 10 is above upper bound -10"),
    ("VARS: {t: {coords: [time], type: flaot32}}",
     r"VARS/t/type: unknown type 'flaot32', did you mean 'float32'\?"),
    ("VARS: {t: {unit: m}}", r"VARS/t/coords: missing"),
    ("COORDS: {time: {unit: {tick: s, tz: Mars/Olympus}}}", r"COORDS/time/unit/tz: unknown time zone"),
    ("COORDS: {time: {unit: {tick: s, tzone: UTC}}}",
     r"COORDS/time/unit/tzone: unknown key, did you mean 'tz'\?"),
    ("COORDS: {time: {chunk_size: 0}}", r"COORDS/time/chunk_size: must be a positive integer"),
    ("COORDS: {time: {step_limits: sometimes}}", r"COORDS/time/step_limits"),
    ("VARS: {t: {coords: [time], range: {interval: [0, 1, parsecs_x]}}}",
     r"VARS/t/range/interval: undefined unit"),
    ("VARS: {v: {coords: [w]}, w: {coords: [x]}}", r"VARS/v/coords: 'w' is a variable"),
    ("child: 3", r"child: unknown key"),
])
def test_an_invalid_schema_is_refused_naming_file_and_key(tmp_path, snippet, message):
    with pytest.raises(SchemaError, match=message):
        load_schema(write(tmp_path, snippet))


def test_an_interval_in_another_unit_is_converted_to_the_variable_unit():
    schema = load_schema({"VARS": {"t": {"coords": "time", "unit": "degC",
                                         "range": {"interval": [32, 212, "degF"]}}}})
    rng = schema.node_schema("").vars["t"].range
    assert (rng.lo, rng.hi) == pytest.approx((0, 100))


def test_asking_for_a_node_that_is_not_in_the_schema_is_a_schema_error():
    schema = load_schema({"VARS": {"v": {"coords": "t"}}, "child": {}})
    with pytest.raises(SchemaError, match=r"'child/nope' is not a node"):
        schema.node_schema("child/nope")


def test_unreadable_and_invalid_yaml_files_are_schema_errors(tmp_path):
    with pytest.raises(SchemaError, match="cannot read"):
        load_schema(tmp_path / "missing.yaml")
    with pytest.raises(SchemaError, match=r"bad\.yaml: not valid YAML"):
        load_schema(write(tmp_path, "VARS: [\n", "bad.yaml"))


def test_errors_fall_in_two_families_told_apart_by_class():
    assert issubclass(SchemaError, FuseError) and issubclass(DataError, FuseError)
    assert issubclass(StoreError, FuseError)
    assert not issubclass(StoreError, (SchemaError, DataError))
    assert not issubclass(DataError, SchemaError)
