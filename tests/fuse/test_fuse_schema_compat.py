"""SCHEMA.md "Compatibility and strictness": schemas as field deployments write them for zarr-fuse
load unchanged, with warnings for obsolete or ignored constructs; real faults are refused, the
real culprit named first; defaulted chunks fit in memory."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from shared.fuse import SchemaError, load_schema, open_store
from shared.fuse.schema import MAX_DEFAULT_CELLS
from shared.fuse.units import DateTimeUnit

from fuse_helpers import table

SCHEMAS = Path(__file__).parent / "schemas"
STEP_KEPT = "is kept as an attribute; values are stored at their true coordinates, never resampled"
INSERTS = "ignored: a new value is always inserted at its sorted place, also before the end (SCHEMA.md 4.3)"


def overlay(name: str) -> str:
    return (f"also listed in COORDS (an obsolete form): read as one coordinate, the keys of "
            f"VARS/{name} laid over COORDS/{name}")


EXPECTED_WARNINGS = {
    "boreholes.yaml": [
        ("COORDS/time/merge/allow_inserts", INSERTS),
        ("COORDS/time/merge/step_limits", f"[15, 61, 'm'] {STEP_KEPT}"),
        ("VARS/depth", overlay("depth")),
        ("hut/COORDS/time/merge/allow_inserts", INSERTS),
        ("hut/COORDS/time/merge/step_limits", f"[15, 61, 'm'] {STEP_KEPT}"),
    ],
    "surface_weather.yaml": [
        ("ATTRS/created", "a date is stored as the text '2024-03-01'"),
        ("forecast/COORDS/time/merge/step_limits", f"[1, 6, 'h'] {STEP_KEPT}"),
        ("forecast/VARS/cloudiness/long_name", "unknown key, ignored"),
    ],
    "tree_network.yaml": [
        ("trees/VARS/tree", overlay("tree")),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_WARNINGS))
def test_field_schemas_load_with_exactly_the_expected_warnings(name):
    schema = load_schema(SCHEMAS / name)
    found = [(w.file, w.key_path, w.message, w.severity) for w in schema.warnings]
    assert found == [(name, key, message, "warning") for key, message in EXPECTED_WARNINGS[name]]


def test_the_project_schemas_load_without_warnings():
    for path in sorted((SCHEMAS.parents[2] / "schemas").glob("*_schema_v1.yaml")):
        assert load_schema(path).warnings == (), path.name


def test_merge_blocks_mean_what_their_keys_mean_at_the_top_level():
    borehole = load_schema(SCHEMAS / "boreholes.yaml")
    time = borehole.node_schema("").coords["time"]
    assert time.sorted is True and time.step_limits == [15, 61, "m"]
    assert time.entry()["step_limits"] == [15, 61, "m"]        # kept as an attribute
    trees = load_schema(SCHEMAS / "tree_network.yaml").node_schema("trees")
    assert trees.coords["tree"].step_limits == "no_new"
    assert trees.coords["time"].sorted is True                   # `merge: {sorted: }` = default


def test_bool_units_make_dimensionless_boolean_variables():
    root = load_schema(SCHEMAS / "boreholes.yaml").node_schema("")
    for var in (root.vars["sensor_ok"], load_schema(SCHEMAS / "boreholes.yaml")
                .node_schema("hut").vars["door_open"],
                load_schema(SCHEMAS / "tree_network.yaml").node_schema("trees").vars["growing"]):
        assert (var.unit, var.dtype, var.type) == (None, "bool", "bool")


def test_a_name_in_vars_and_coords_is_one_coordinate_with_the_vars_keys_laid_over():
    root = load_schema(SCHEMAS / "boreholes.yaml").node_schema("")
    assert "depth" not in root.vars
    depth = root.coords["depth"]
    assert depth.unit == "m" and depth.description == "sensor depth below the casing top"
    assert (depth.range.lo, depth.range.hi) == (0, 120) and depth.sorted is True
    tree = load_schema(SCHEMAS / "tree_network.yaml").node_schema("trees").coords["tree"]
    assert tree.dtype == "str[8]" and tree.description == "tree tag"


def test_empty_sorted_anchors_and_free_attrs_keep_their_meaning():
    schema = load_schema(SCHEMAS / "boreholes.yaml")
    root, hut = schema.node_schema(""), schema.node_schema("hut")
    assert root.coords["borehole"].sorted is True and root.coords["depth"].sorted is True
    assert root.attrs["location_file"] == "boreholes_locations.csv"
    assert root.attrs["grid_step"] == 0.5 and hut.attrs["grid_step"] is None
    assert hut.coords["time"].unit == DateTimeUnit("s", "Europe/Prague")
    assert hut.vars["air_temperature"].dtype == "float32"
    assert hut.vars["air_temperature"].df_col == "air_temp"
    weather = load_schema(SCHEMAS / "surface_weather.yaml").node_schema("")
    assert weather.coords["station"].sorted is False           # composed: default unsorted
    assert weather.vars["lon"] == weather.vars["lat"].__class__(
        **{**weather.vars["lat"].__dict__, "name": "lon", "df_col": "lon"})
    assert weather.attrs["created"] == "2024-03-01"


def test_defaulted_chunks_are_1024_along_sorted_simple_and_64_along_other_coordinates():
    forecast = load_schema(SCHEMAS / "surface_weather.yaml").node_schema("forecast")
    assert forecast.coords["time"].chunk_size == 1024
    assert forecast.coords["station"].chunk_size == 64      # composed
    assert forecast.coords["table"].chunk_size == 64        # sorted: false
    assert forecast.chunk_shape(forecast.vars["lat"]) == (64,)


@pytest.mark.parametrize("name, node, var, shape", [
    ("boreholes.yaml", "", "temperature", (128, 128, 64)),
    ("boreholes.yaml", "", "battery", (1024, 1024)),
    ("surface_weather.yaml", "forecast", "fog", (256, 64, 64)),
    ("tree_network.yaml", "trees", "growing", (2048, 512)),   # explicit time chunk kept
])
def test_defaulted_chunks_of_a_variable_shrink_to_at_most_2_20_cells(name, node, var, shape):
    schema = load_schema(SCHEMAS / name).node_schema(node)
    assert schema.chunk_shape(schema.vars[var]) == shape
    assert np.prod(shape) <= MAX_DEFAULT_CELLS


def test_explicit_chunk_sizes_are_kept_as_written_even_when_large():
    schema = load_schema({"COORDS": {"a": {"chunk_size": 2048}, "b": {"chunk_size": 1024}},
                          "VARS": {"v": {"coords": ["a", "b", "c"]}}}).node_schema("")
    assert schema.chunk_shape(schema.vars["v"]) == (2048, 1024, 1)


def test_a_field_schema_merges_a_table_that_plain_xarray_reads_back(tmp_path):
    schema = load_schema(SCHEMAS / "boreholes.yaml")
    environ = {"STORE_URL": str(tmp_path / "boreholes.zarr")}
    root = open_store(schema, environ=environ)
    rows = [("2024-05-01 10:00", "RU-BH-07", 2.5, "8.25", "true", "12.6"),
            ("2024-05-01 10:00", "RU-BH-07", 10, "9.5", "false", "12.6"),
            ("2024-05-01 10:15", "RU-BH-12", 2.5, "7.75", "true", "-999")]
    root.update(table(rows, ["timestamp", "borehole", "depth", "temp", "sensor_ok", "battery"]))
    root["hut"].update(table([("2024-05-01 10:00", "21.5", "false")],
                             ["timestamp", "air_temp", "door_open"]))

    ds = xr.open_zarr(str(tmp_path / "boreholes.zarr"), group="", consolidated=False)
    assert ds["borehole"].values.tolist() == ["RU-BH-07", "RU-BH-12"]
    assert ds["depth"].values.tolist() == [2.5, 10.0]
    assert ds["depth"].attrs["description"] == "sensor depth below the casing top"
    temp = ds["temperature"].sel(borehole="RU-BH-07", depth=10.0).values
    assert np.nanmax(temp) == pytest.approx(9.5) and ds["temperature"].dtype == np.float32
    assert ds["sensor_ok"].dtype == bool
    assert ds["sensor_ok"].sel(borehole="RU-BH-07", depth=2.5).values[0] == True  # noqa: E712
    assert ds["battery"].sel(borehole="RU-BH-07").values[0] == pytest.approx(12.6)
    assert str(ds["time"].values[0]) == "2024-05-01T08:00:00.000000000"        # Prague, CEST
    hut = xr.open_zarr(str(tmp_path / "boreholes.zarr"), group="hut", consolidated=False)
    assert hut["air_temperature"].values.tolist() == [21.5]
    assert hut["door_open"].values.tolist() == [False]

    group = zarr.open_group(str(tmp_path / "boreholes.zarr"), mode="r")
    assert group.attrs["location_file"] == "boreholes_locations.csv"
    assert group["temperature"].chunks == (128, 128, 64)       # not 1024^3 cells


def write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("snippet, first", [
    ("COORDS: {time: {unit: {tick: 15m}}}\nVARS: {temp: {coords: [time, borehole]}}",
     "site.yaml: COORDS/time/unit/tick: unknown tick '15m'"),
    ("VARS: {temperature: {coords: [time], dtype: float32}}",
     "site.yaml: VARS/temperature/dtype: unknown key, did you mean 'type'?"),
    ("COORDS: {time: {merge: {step_limit: [15, 61, m]}}}",
     "site.yaml: COORDS/time/merge/step_limit: unknown key, did you mean 'step_limits'?"),
    ("COORDS: {time: {merge: {allow_inserts: maybe}}}",
     "site.yaml: COORDS/time/merge/allow_inserts: must be true or false, not 'maybe'"),
    ("COORDS: {time: {sorted: false, merge: {sorted: true}}}",
     "site.yaml: COORDS/time/merge/sorted: True, but COORDS/time/sorted says False: give it once"),
    ("COORDS: {time: {merge: [sorted]}}", "site.yaml: COORDS/time/merge: must be a mapping"),
    ("COORDS: {time: {step_limits: [15, 61, parsec_x]}}",
     "site.yaml: COORDS/time/step_limits: undefined unit 'parsec_x'"),
    ("COORDS: {time: {unit: {tick: s}, step_limits: [15, 61, km]}}",
     "site.yaml: COORDS/time/step_limits: unit 'km' of a time step must be a tick"),
    ("COORDS: {time: {sorted: [time]}}",
     "site.yaml: COORDS/time/sorted: must be true or false (or empty for the default), not ['time']"),
    ("VARS: {ok: {coords: [time], unit: bool, type: float32}}",
     "site.yaml: VARS/ok/type: unit 'bool' is a boolean; the type must be bool or left out"),
    ("VARS: {t: {coords: [time], unit: degC, type: str}}",
     "site.yaml: VARS/t/type: type str cannot carry the unit 'degC'"),
    ("VARS: {t: {coords: [time], unit: degC, source_unit: m}}",
     "site.yaml: VARS/t/source_unit: cannot convert 'm'"),
    ("VARS: {t: {coords: [time], unit: degC_x}}", "site.yaml: VARS/t/unit: undefined unit 'degC_x'"),
    ("VARS: {t: {coords: [time], type: int8, na_value: -999}}",
     "site.yaml: VARS/t/na_value: -999 is not a value of type int8"),
    ("VARS: {t: {coords: [time], type: 'str[0]'}}", "site.yaml: VARS/t/type: 'str[0]'"),
    ("COORDS: {station: {composed: [lat, lon]}}\nVARS: {lat: {coords: station}}",
     "site.yaml: COORDS/station/composed: composed component 'lon' is not a variable"),
    ("COORDS: {station: {composed: [lat, time]}, time: {}}\nVARS: {lat: {coords: station}}",
     "site.yaml: COORDS/station/composed: composed component 'time' is a coordinate"),
    ("VARS: {probes: {coords: [time]}}\nprobes: {VARS: {}}",
     "site.yaml: VARS/probes: is also the name of a child node"),
    ("VARS: {a/b: {coords: [time]}}", "site.yaml: VARS/a/b: a name cannot contain '/'"),
    ("ATTRS: {raw: !!binary aGVsbG8=}", "site.yaml: ATTRS/raw: a bytes cannot be stored"),
])
def test_a_faulty_schema_is_refused_with_the_culprit_named_first(tmp_path, snippet, first):
    with pytest.raises(SchemaError) as caught:
        load_schema(write(tmp_path, snippet))
    assert str(caught.value).startswith(first)
    assert str(caught.value.findings[0]).startswith(first)


def test_consequences_of_a_fault_are_not_reported_as_faults_of_their_own(tmp_path):
    text = """\
    COORDS:
      time: {unit: {tick: 15m}, merge: {step_limits: [15, 61, m]}}
      station: {composed: [lat, lon]}
    VARS:
      lat: {coords: station, unit: degree_north_x}
      lon: {coords: station, unit: deg}
      temperature: {coords: [time, station], unit: degC}
    """
    with pytest.raises(SchemaError) as caught:
        load_schema(write(tmp_path, text))
    errors = [(f.key_path, f.message.split(" (")[0]) for f in caught.value.findings
              if f.severity == "error"]
    assert errors == [("COORDS/time/unit/tick", "unknown tick '15m'"),
                      ("VARS/lat/unit", "undefined unit 'degree_north_x'")]
    assert str(caught.value).startswith("site.yaml: COORDS/time/unit/tick: unknown tick '15m'")


def test_free_keys_are_warnings_and_typos_are_errors(tmp_path):
    schema = load_schema(write(tmp_path, """\
    COORDS: {time: {standard_name: time, merge: {comment: 15 min logger}}}
    VARS: {t: {coords: [time], long_name: air temperature, sorted: true}}
    """))
    assert [(w.key_path, w.message) for w in schema.warnings] == [
        ("COORDS/time/standard_name", "unknown key, ignored"),
        ("COORDS/time/merge/comment", "unknown key, ignored"),
        ("VARS/t/long_name", "unknown key, ignored"),
        ("VARS/t/sorted", "a key of coordinates only; ignored on a variable")]
    with pytest.raises(SchemaError, match=r"COORDS/time/unit/tzone: unknown key, did you mean 'tz'\?"):
        load_schema(write(tmp_path, "COORDS: {time: {unit: {tick: s, tzone: UTC}}}"))
