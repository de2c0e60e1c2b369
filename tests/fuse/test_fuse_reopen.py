"""Reopening a store (SCHEMA.md section 3): every stored value survives, nothing is rewritten,
and a schema that no longer describes the store is refused before it can corrupt it."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse_helpers import stored, table
from shared.fuse import SchemaError, open_store


def raw_files(path: Path) -> dict[str, str]:
    """Every file of a local store with a digest of its bytes."""
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}


def int_coord_schema(attrs: dict, type_: str, sorted_: bool = True) -> dict:
    return {"ATTRS": attrs,
            "COORDS": {"k": {"type": type_, "sorted": sorted_, "chunk_size": 4}},
            "VARS": {"v": {"coords": ["k"], "type": "float64"}}}


EXTREMES = [("uint8", [0, 7, 255]), ("int8", [-128, 0, 127]),
            ("int32", [int(np.iinfo(np.int32).min), 5]),
            ("int64", [int(np.iinfo(np.int64).min), 0, 2**53])]


@pytest.mark.parametrize("sorted_", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("type_, keys", EXTREMES, ids=[t for t, _ in EXTREMES])
def test_integer_coordinate_values_equal_to_the_fill_value_survive_reopening(
        local, type_, keys, sorted_):
    schema = int_coord_schema(local.attrs(), type_, sorted_)
    node = open_store(schema, environ=local.environ)
    node.update(table([(k, i) for i, k in enumerate(keys)], ["k", "v"]))
    node.close()
    before = raw_files(local.local_path())
    again = open_store(schema, environ=local.environ)
    assert sorted(stored(again, "k").tolist()) == sorted(keys)
    assert raw_files(local.local_path()) == before
    again.update(table([(keys[-1], 99)], ["k", "v"]))       # extends, no duplicate entry
    assert len(stored(again, "k")) == len(keys)
    assert stored(again, "v")[list(stored(again, "k")).index(keys[-1])] == 99


def test_reopening_a_store_never_changes_a_byte(local):
    schema = {"ATTRS": local.attrs() | {"description": "reopen"},
              "COORDS": {"time": {"unit": {"tick": "s"}, "chunk_size": 4},
                         "station": {"composed": ["lat", "lon"], "chunk_size": 2},
                         "code": {"type": "str[4]", "sorted": False, "chunk_size": 2}},
              "VARS": {"lat": {"coords": "station", "unit": "deg"},
                       "lon": {"coords": "station", "unit": "deg"},
                       "count": {"coords": ["time", "station", "code"]},
                       "level": {"coords": ["time"], "unit": "m"}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([("2026-01-01T00:00Z", 50.0, 15.0, "ab", 3, 1.5),
                       ("2026-01-01T00:10Z", 51.0, 16.0, "abcd", 4, 2.5)],
                      ["time", "lat", "lon", "code", "count", "level"]))
    node.close()
    before = raw_files(local.local_path())
    for _ in range(2):
        open_store(schema, environ=local.environ).close()
    assert raw_files(local.local_path()) == before


def base_schema(attrs: dict) -> dict:
    return {"ATTRS": attrs,
            "COORDS": {"t": {"type": "float64", "chunk_size": 2},
                       "site": {"type": "str[6]", "sorted": False, "chunk_size": 2},
                       "station": {"composed": ["lat", "lon"], "chunk_size": 2}},
            "VARS": {"lat": {"coords": "station", "unit": "deg"},
                     "lon": {"coords": "station", "unit": "deg"},
                     "v": {"coords": ["t", "site", "station"], "type": "float64"},
                     "w": {"coords": ["t"], "unit": "m"}}}


def seeded(local) -> dict:
    schema = base_schema(local.attrs())
    node = open_store(schema, environ=local.environ)
    node.update(table([(0, "north", 50.0, 15.0, 1.0, 10), (1, "south", 51.0, 16.0, 2.0, 11)],
                      ["t", "site", "lat", "lon", "v", "w"]))
    node.close()
    return schema


def _widen(s):
    s["COORDS"]["site"]["type"] = "str[12]"


def _flip(s):
    s["COORDS"]["t"]["sorted"] = False


def _recompose(s):
    s["COORDS"]["station"]["composed"] = ["lat"]


def _drop_var(s):
    del s["VARS"]["w"]


def _drop_coord(s):
    del s["COORDS"]["site"]
    del s["VARS"]["v"]


def _simple_to_composed(s):
    s["VARS"]["code"] = {"coords": "site", "type": "str"}
    s["COORDS"]["site"] = {"composed": ["code"], "chunk_size": 2}


@pytest.mark.parametrize("change, message", [
    (_widen, r"COORDS/site/type: the store has str\[6\], the schema says str\[12\]"),
    (_flip, r"COORDS/t/sorted: the store has True, the schema says False"),
    (_recompose, r"COORDS/station/composed: the store has \['lat', 'lon'\], the schema says \['lat'\]"),
    (_drop_var, r"VARS/w: the store holds array 'w' \(coords \['t'\]\), the schema leaves it out"),
    (_drop_coord, r"COORDS/site: the store holds array 'site' \(coords \['site'\]\), the schema leaves it out"),
    (_simple_to_composed, r"COORDS/site/composed: the store has \['site'\], the schema says \['code'\]"),
], ids=["str-width", "sorted", "composed", "variable-left-out", "coordinate-left-out",
        "simple-to-composed"])
def test_reopening_with_a_schema_that_no_longer_fits_the_store_is_refused_and_the_store_unchanged(
        local, change, message):
    schema = seeded(local)
    before = raw_files(local.local_path())
    changed = base_schema(local.attrs())
    change(changed)
    with pytest.raises(SchemaError, match=message):
        open_store(changed, environ=local.environ)
    assert raw_files(local.local_path()) == before
    node = open_store(schema, environ=local.environ)
    assert stored(node, "w").tolist() == [10, 11]


def test_a_value_converted_exactly_onto_a_range_bound_is_accepted(local):
    schema = {"ATTRS": local.attrs(),
              "VARS": {"temp": {"coords": "t", "unit": "degC", "source_unit": "degF",
                                "range": {"interval": [-60, 60]}}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([(1, 140), (2, -76)], ["t", "temp"]))
    assert stored(node, "temp").tolist() == pytest.approx([60.0, -60.0])


def test_a_value_beyond_the_tolerance_of_a_range_bound_is_still_refused(local):
    schema = {"ATTRS": local.attrs(),
              "VARS": {"temp": {"coords": "t", "unit": "degC", "source_unit": "degF",
                                "range": {"interval": [-60, 60]}}}}
    node = open_store(schema, environ=local.environ)
    with pytest.raises(Exception, match=r"row 1, column temp: '140.001' is outside the range"):
        node.update(table([(1, "140.001")], ["t", "temp"]))


@pytest.mark.parametrize("cell", ["-999", "-999.0", " -999.00 ", "-9.99e2", -999, -999.0],
                         ids=["csv-int", "csv-float", "csv-padded", "csv-exp", "json-int",
                              "json-float"])
def test_a_float_na_value_is_missing_however_the_number_is_written(local, cell):
    schema = {"ATTRS": local.attrs(),
              "VARS": {"v": {"coords": "t", "type": "float64", "na_value": -999}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([(1, 5.0)], ["t", "v"]))
    node.update(pd.DataFrame({"t": ["1"], "v": pd.Series([cell], dtype=object)}))
    assert stored(node, "v").tolist() == [5.0]
    node.update(pd.DataFrame({"t": ["1"], "v": pd.Series(["-999.5"], dtype=object)}))
    assert stored(node, "v").tolist() == [-999.5]


def test_an_integer_na_value_is_missing_as_text_or_number(local):
    schema = {"ATTRS": local.attrs(),
              "VARS": {"n": {"coords": "t", "type": "int32", "na_value": -1}}}
    node = open_store(schema, environ=local.environ)
    node.update(table([(1, 5)], ["t", "n"]))
    for cell in ["-1", "-1.0", -1, -1.0]:
        node.update(pd.DataFrame({"t": ["1"], "n": pd.Series([cell], dtype=object)}))
        assert stored(node, "n").tolist() == [5]
