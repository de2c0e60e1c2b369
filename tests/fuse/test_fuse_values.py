"""Rule 4.6, no silent value changes: infinities, float32 overflow and JSON booleans in number
variables are data errors naming row, column and value, and nothing is written."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from shared.fuse import DataError, load_schema, open_store


def number_schema(attrs: dict, **x) -> dict:
    return {"ATTRS": attrs, "COORDS": {"t": {"type": "float64"}},
            "VARS": {"x": {"coords": ["t"], **x}}}


def seeded(local, **x):
    node = open_store(number_schema(local.attrs(), **x), environ=local.environ)
    node.update(pd.DataFrame({"t": ["0"], "x": ["1"]}))
    return node


def stored_x(local) -> list[float]:
    return local.open_xarray("store.zarr", None).load()["x"].values.tolist()


@pytest.mark.parametrize("cells", [["inf"], ["-Infinity"], ["1e400"], [1e400],
                                   json.loads('[Infinity]'), json.loads('[-Infinity]')])
def test_an_infinity_is_a_data_error_and_nothing_is_written(local, cells):
    node = seeded(local)
    with pytest.raises(DataError, match=r"row 2, column x: .* is infinite") as info:
        node.update(pd.DataFrame({"t": ["1", "2"], "x": ["5"] + cells}, dtype=object))
    assert (info.value.row, info.value.column) == (2, "x")
    assert stored_x(local) == [1.0]


def test_a_range_with_an_infinite_bound_allows_that_infinity(local):
    rng = yaml.safe_load("interval: [0, .inf]")
    node = seeded(local, range=rng)
    node.update(pd.DataFrame({"t": ["1"], "x": ["inf"]}))
    assert stored_x(local) == [1.0, math.inf]
    with pytest.raises(DataError, match=r"row 1, column x: '-inf' is infinite"):
        node.update(pd.DataFrame({"t": ["2"], "x": ["-inf"]}))


def test_a_number_too_large_for_float32_is_a_data_error_not_inf(local):
    node = seeded(local, type="float32")
    with pytest.raises(DataError, match=r"row 1, column x: '1e39' does not fit in float32"):
        node.update(pd.DataFrame({"t": ["1"], "x": ["1e39"]}))
    node.update(pd.DataFrame({"t": ["1"], "x": ["3e38"]}))
    assert np.isfinite(stored_x(local)).all()


@pytest.mark.parametrize("x", [{"type": "float64"}, {"type": "float32"}, {"type": "int32"},
                               {"unit": "degC", "source_unit": "degF"}])
def test_json_true_in_a_number_variable_is_a_type_error(local, x):
    node = seeded(local, **x)
    before = stored_x(local)
    body = json.loads('[{"t": 1, "x": 2}, {"t": 2, "x": true}]')
    with pytest.raises(DataError, match=r"row 2, column x: True is true/false, not a number"):
        node.update(pd.DataFrame(body))
    with pytest.raises(DataError, match=r"row 1, column x: .*True.* is true/false, not a number"):
        node.update(pd.DataFrame({"t": [3.0], "x": [True]}))     # a column of booleans only
    assert stored_x(local) == before


def test_booleans_still_go_into_bool_variables(local):
    node = seeded(local, type="bool")
    node.update(pd.DataFrame(json.loads('[{"t": 1, "x": true}, {"t": 2, "x": false}]')))
    assert stored_x(local) == [True, True, False]


@pytest.mark.parametrize("kind", ["int64", None])  # declared, and untyped integers (kept int64)
def test_integers_past_float64_precision_are_stored_exactly(local, kind):
    extra = {"type": kind} if kind else {}
    node = open_store(number_schema(local.attrs(), **extra), environ=local.environ)
    big = [2**63 - 1, -(2**63), 2**53 + 1, 9007199254740993]
    node.update(pd.DataFrame({"t": ["0", "1"], "x": [str(big[0]), str(big[1])]}))
    node.update(pd.DataFrame({"t": [2.0, 3.0], "x": pd.array(big[2:], dtype="Int64")}))
    assert stored_x(local) == big


@pytest.mark.parametrize("cell", ["9223372036854775808", "-9223372036854775809", "1e19", 2**64])
def test_an_integer_beyond_int64_is_a_data_error_not_garbage(local, cell):
    node = open_store(number_schema(local.attrs(), type="int64"), environ=local.environ)
    node.update(pd.DataFrame({"t": ["0"], "x": ["7"]}))
    with pytest.raises(DataError, match=r"row 1, column x: .* is not an integer of type int64"):
        node.update(pd.DataFrame({"t": ["1"], "x": [cell]}, dtype=object))
    assert stored_x(local) == [7]
