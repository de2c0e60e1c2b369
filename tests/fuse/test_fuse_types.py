"""Types, fill values and odd uploads, stored and read back with plain xarray."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fuse_helpers import table
from shared.fuse import DataError, open_store


def typed_schema(attrs):
    return {"ATTRS": attrs,
            "COORDS": {"depth": {"type": "int64", "chunk_size": 4, "step_limits": "no_new"}},
            "VARS": {"seen": {"coords": "depth", "type": "datetime64[s]"},
                     "count": {"coords": "depth", "type": "int32", "na_value": -1},
                     "flag": {"coords": "depth", "type": "bool"},
                     "code": {"coords": "depth", "type": "str[4]"}}}


COLS = ["depth", "seen", "count", "flag", "code"]


def test_typed_variables_and_an_int_coordinate_with_zero_survive_reopening(local):
    node = open_store(typed_schema(local.attrs()), environ=local.environ)
    node.update(table([(0, "2026-01-01T00:00Z", 3, "yes", "ab"), (5, None, None, None, None)], COLS))
    ds = open_store(typed_schema(local.attrs()), environ=local.environ).dataset.load()
    assert ds.depth.values.tolist() == [0, 5]
    assert str(ds.seen.values[0])[:19] == "2026-01-01T00:00:00" and np.isnat(ds.seen.values[1])
    assert ds["count"].values.tolist() == [3, -1]
    assert ds.flag.values.tolist() == [True, False] and ds.code.values.tolist() == ["ab", ""]


def test_an_empty_upload_changes_nothing(local):
    node = open_store(typed_schema(local.attrs()), environ=local.environ)
    summary = node.update(pd.DataFrame({"depth": [], "seen": []}))
    assert summary.rows == 0 and summary.cells == 0
    assert node.dataset.depth.size == 0


def test_a_batch_with_a_new_value_on_a_no_new_coordinate_names_its_row(local):
    node = open_store(typed_schema(local.attrs()), environ=local.environ)
    node.update(table([(0, None, 1, None, None)], COLS))
    first = node.prepare(table([(0, None, 2, None, None)], COLS))
    with pytest.raises(DataError, match=r"row 1, column depth: '7' is a new value"):
        node.prepare(table([(7, None, 2, None, None)], COLS))
    assert node.dataset["count"].values.tolist() == [1]
    node.merge([first])
    assert node.dataset["count"].values.tolist() == [2]


def test_a_string_longer_than_its_type_is_refused(local):
    node = open_store(typed_schema(local.attrs()), environ=local.environ)
    with pytest.raises(DataError, match=r"row 1, column code: 'abcde' is longer than 4"):
        node.update(table([(0, None, None, None, "abcde")], COLS))


def test_the_node_can_be_closed_and_used_as_a_context_manager(backend):
    with open_store(typed_schema(backend.attrs()), environ=backend.environ) as node:
        node.update(table([(1, None, 4, None, None)], COLS))
    again = open_store(typed_schema(backend.attrs()), environ=backend.environ)
    assert again.dataset["count"].values.tolist() == [4]
    again.close()
