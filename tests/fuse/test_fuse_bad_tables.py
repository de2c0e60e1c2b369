"""Rule 6 against a store: a bad upload is refused with a clear error and the store is unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from fuse_helpers import table
from shared.fuse import DataError, open_store

COLS = ["timestamp", "sensor", "level", "status"]


def sensor_schema(attrs):
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": {"tick": "s", "tz": "+01:00"}, "df_col": "timestamp",
                                "chunk_size": 4},
                       "sensor": {"type": "str", "step_limits": "no_new", "chunk_size": 2}},
            "VARS": {"level": {"coords": ["time", "sensor"], "unit": "m", "source_unit": "cm",
                               "range": {"interval": [0, 10]}},
                     "status": {"coords": ["time", "sensor"], "type": "str",
                                "range": {"discrete": ["ok", "low_battery"]}}}}


def contents(node):
    ds = node.dataset.load()
    return {name: ds[name].values.tolist() for name in ds.variables}


@pytest.mark.parametrize("rows, columns, message", [
    ([("2026-11-01 00:00", 500)], ["timestamp", "level"], r"missing column 'sensor'"),
    ([("2026-11-01 02:00", "A", "4o0", "ok")], COLS, r"row 1, column level: '4o0' is not a number"),
    ([("2026-11-01 02:00", "A", 100, "ok"), ("2026-11-01 02:00", "B", 1100, "ok")], COLS,
     r"row 2, column level: '1100' is outside the range \[0, 10\]"),
    ([("2026-11-01 02:00", "A", 100, "ok"), ("2026-11-31 02:00", "B", 100, "ok")], COLS,
     r"row 2, column timestamp: '2026-11-31 02:00' is not a time"),
    ([("2026-11-01 02:00", "A", 100, "ok"), ("2026-11-01 02:00", "C", 100, "ok")], COLS,
     r"row 2, column sensor: 'C' is a new value of coordinate 'sensor'"),
    ([("2026-11-01 02:00", "A", 100, "ok"), ("2026-11-01 02:00", "B", 100, "dead")], COLS,
     r"row 2, column status: 'dead' is not one of"),
])
def test_a_bad_upload_is_refused_and_the_store_is_unchanged(backend, rows, columns, message):
    node = open_store(sensor_schema(backend.attrs()), environ=backend.environ)
    node.update(table([("2026-11-01 00:00", "A", 412, "ok"), ("2026-11-01 00:00", "B", 450, "ok")],
                      COLS))
    before = contents(node)
    with pytest.raises(DataError, match=message):
        node.update(table(rows, columns))
    assert contents(node) == before
    again = open_store(sensor_schema(backend.attrs()), environ=backend.environ)
    assert contents(again) == before
    assert np.allclose(again.dataset.level.values, [[4.12, 4.5]])
