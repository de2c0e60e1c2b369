"""Late data at random places: uploads whose times land before, between and after the stored
ones, in nodes with chunks of 1 to 4 positions (so inserts cross chunk boundaries, and shifted
data is rewritten chunk by chunk from the journal's backups), checked against a plain-Python
model of SCHEMA.md section 4: sorted times, stations in order of first appearance, the last
non-missing value of a cell wins, untouched cells keep their values. The store is read back
with plain ``xarray.open_zarr`` and no journal is left behind.

Bounded by default (derandomized, few examples); ``PROPERTY_EXAMPLES=500`` for a long run.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import HealthCheck, given, settings, strategies as st

from shared.fuse import open_store

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "12"))
STATIONS = ["n", "e", "s", "w"]
VARS = ("a", "b")


def schema(root: str, time_chunk: int, station_chunk: int) -> dict:
    return {"ATTRS": {"STORE_URL": root},
            "COORDS": {"t": {"type": "int64", "chunk_size": time_chunk},
                       "station": {"type": "str", "sorted": False, "chunk_size": station_chunk}},
            "VARS": {"a": {"coords": ["t", "station"], "type": "float64"},
                     "b": {"coords": ["t", "station"], "type": "float32"},
                     "c": {"coords": ["t"], "type": "int32", "na_value": -1}}}


Row = tuple[int, str, "float | None", "float | None", "int | None"]


def rows() -> st.SearchStrategy[list[Row]]:
    value = st.one_of(st.none(), st.integers(-50, 50).map(float))
    row = st.tuples(st.integers(-40, 40), st.sampled_from(STATIONS), value, value,
                    st.one_of(st.none(), st.integers(0, 99)))
    return st.lists(row, min_size=1, max_size=8)


def frame(upload: list[Row]) -> pd.DataFrame:
    """An upload as the parser gives it: every cell a string, missing cells empty."""
    return pd.DataFrame([["" if v is None else str(v) for v in row] for row in upload],
                        columns=["t", "station", "a", "b", "c"], dtype=object)


def model(uploads: list[list[Row]]) -> dict:
    cells: dict = {}
    stations: list[str] = []
    times: set[int] = set()
    for upload in uploads:
        for t, station, a, b, c in upload:
            times.add(t)
            if station not in stations:
                stations.append(station)
            for key, value in (((t, station, "a"), a), ((t, station, "b"), b), ((t, "c"), c)):
                if value is not None:
                    cells[key] = value
    t_sorted = sorted(times)
    out = {"t": t_sorted, "station": stations,
           "c": [cells.get((t, "c"), -1) for t in t_sorted]}
    for var in VARS:
        out[var] = np.array([[cells.get((t, s, var), np.nan) for s in stations] for t in t_sorted])
    return out


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.integers(1, 4), st.integers(1, 3), st.lists(rows(), min_size=2, max_size=6),
       st.booleans())
def test_inserts_anywhere_match_the_model(time_chunk, station_chunk, uploads, batched):
    with tempfile.TemporaryDirectory(prefix="prop-insert-") as folder:
        root = str(Path(folder) / "store.zarr")
        node = open_store(schema(root, time_chunk, station_chunk))
        if batched:     # a batch: the same result as one upload after another
            node.update(frame(uploads[0]))
            node.merge([node.prepare(frame(u)) for u in uploads[1:]])
        else:
            for upload in uploads:
                node.update(frame(upload))
        node.close()
        expected = model(uploads)
        ds = xr.open_zarr(root, consolidated=False).load()
        assert ds.t.values.tolist() == expected["t"]
        assert ds.station.values.tolist() == expected["station"]
        assert ds.c.values.tolist() == expected["c"]
        for var in VARS:
            np.testing.assert_array_equal(ds[var].values.astype(np.float64), expected[var],
                                          err_msg=var)
        assert not (Path(root) / "__journal__").exists()
