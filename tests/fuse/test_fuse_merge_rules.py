"""SCHEMA.md section 4, on a local directory and on a moto S3 server: every rule and table row."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fuse_helpers import one_d_schema, seeded_1d, station_schema, stored, table
from shared.fuse import DataError, open_store

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TABLE_ROWS = [   # SCHEMA.md section 4: upload -> stored t, stored v
    ([(5, 15), (4, 14)], [0, 1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15]),
    ([(1, 21), (3, 23)], [0, 1, 2, 3], [10, 21, 12, 23]),
    ([(1.5, 91)], [0, 1, 1.5, 2, 3], [10, 11, 91, 12, 13]),
    ([(-1, 9)], [-1, 0, 1, 2, 3], [9, 10, 11, 12, 13]),
    ([(1, None), (2, 66)], [0, 1, 2, 3], [10, 11, 66, 13]),
    ([(3, 41), (3, 42)], [0, 1, 2, 3], [10, 11, 12, 42]),
]


@pytest.mark.parametrize("upload, t_after, v_after", TABLE_ROWS,
                         ids=["append", "overwrite", "insert-middle", "insert-before-start",
                              "empty-cell-keeps-value", "last-duplicate-wins"])
def test_schema_md_table_row(backend, upload, t_after, v_after):
    node = seeded_1d(backend)
    node.update(table(upload, ["t", "v"]))
    assert stored(node, "t").tolist() == t_after
    assert stored(node, "v").tolist() == v_after


@pytest.mark.parametrize("upload, t_after, v_after", TABLE_ROWS)
def test_reopened_store_shows_the_same_table_row(local, upload, t_after, v_after):
    seeded_1d(local).update(table(upload, ["t", "v"]))
    node = open_store(one_d_schema(local.attrs()), environ=local.environ)
    assert stored(node, "t").tolist() == t_after
    assert stored(node, "v").tolist() == v_after


def test_merging_the_same_upload_twice_gives_the_same_store(backend):
    node = seeded_1d(backend)
    upload = table([(1.5, 91), (-1, 9), (7, 17), (2, 62)], ["t", "v"])
    node.update(upload)
    first = (stored(node, "t").tolist(), stored(node, "v").tolist())
    node.update(upload)
    assert (stored(node, "t").tolist(), stored(node, "v").tolist()) == first


def test_a_batch_merges_like_its_uploads_one_after_another(backend, tmp_path):
    uploads = [table([(1.5, 91), (3, 30)], ["t", "v"]), table([(3, None), (-2, 8)], ["t", "v"]),
               table([(1.5, 92), (9, 19)], ["t", "v"])]
    one_by_one = seeded_1d(backend)
    for upload in uploads:
        one_by_one.update(upload)
    batch_attrs = dict(backend.attrs("batch.zarr"))
    batch = open_store(one_d_schema(batch_attrs), environ=backend.environ)
    batch.update(table([(0, 10), (1, 11), (2, 12), (3, 13)], ["t", "v"]))
    summary = batch.merge([batch.prepare(u) for u in uploads])
    assert summary.rows == 6 and summary.new_values == {"t": 3}
    for name in ("t", "v"):
        assert stored(batch, name).tolist() == stored(one_by_one, name).tolist()


def test_an_unsorted_coordinate_appends_new_values_in_order_of_first_appearance(backend):
    schema = {"ATTRS": backend.attrs(),
              "COORDS": {"tree": {"type": "str", "sorted": False, "chunk_size": 2}},
              "VARS": {"flow": {"coords": "tree"}}}
    node = open_store(schema, environ=backend.environ)
    node.update(table([("oak", 1), ("beech", 2)], ["tree", "flow"]))
    node.update(table([("spruce", 3), ("ash", 4), ("oak", 5), ("spruce", 6), ("birch", 7)],
                      ["tree", "flow"]))
    assert stored(node, "tree").tolist() == ["oak", "beech", "spruce", "ash", "birch"]
    assert stored(node, "flow").tolist() == [5, 2, 6, 4, 7]


def test_a_sorted_string_coordinate_inserts_in_the_middle(backend):
    schema = {"ATTRS": backend.attrs(),
              "COORDS": {"time": {"unit": {"tick": "s"}, "chunk_size": 2},
                         "sensor": {"type": "str", "chunk_size": 2}},
              "VARS": {"level": {"coords": ["time", "sensor"], "type": "float64"}}}
    node = open_store(schema, environ=backend.environ)
    node.update(table([("2026-01-01 00:00", "B", 1), ("2026-01-01 00:00", "D", 2)],
                      ["time", "sensor", "level"]))
    node.update(table([("2026-01-01 00:00", "C", 3), ("2025-12-31 23:00", "A", 4)],
                      ["time", "sensor", "level"]))
    assert stored(node, "sensor").tolist() == ["A", "B", "C", "D"]
    nan = np.nan
    np.testing.assert_array_equal(stored(node, "level"), [[4, nan, nan, nan], [nan, 1, 3, 2]])


def test_a_column_absent_from_the_upload_is_left_as_it_is(backend):
    node = open_store(station_schema(backend.attrs()), environ=backend.environ)
    cols = ["timestamp", "lat", "lon", "temp_f", "humidity", "wind"]
    node.update(table([("2026-11-03T08:00Z", 50.1, 15.1, 50, 80, 3)], cols))
    node.update(table([("2026-11-03T08:00Z", 50.1, 15.1, 5)], ["timestamp", "lat", "lon", "wind"]))
    ds = node.dataset
    assert ds.temperature.values.tolist() == [[pytest.approx(10.0)]]
    assert ds.humidity.values.tolist() == [[80.0]] and ds.wind.values.tolist() == [[5.0]]


def test_a_new_value_on_a_no_new_coordinate_is_rejected_and_nothing_written(backend):
    node = seeded_1d(backend, step_limits="no_new")
    with pytest.raises(DataError, match=r"row 2, column t: '2\.5' is a new value .*no_new"):
        node.update(table([(1, 50), (2.5, 51)], ["t", "v"]))
    assert stored(node, "t").tolist() == [0, 1, 2, 3]
    assert stored(node, "v").tolist() == [10, 11, 12, 13]
    node.update(table([(1, 50)], ["t", "v"]))
    assert stored(node, "v").tolist() == [10, 50, 12, 13]


@pytest.mark.parametrize("rows, message", [
    ([(1, 21), (2, "n/a")], r"row 2, column v: 'n/a' is not a number"),
    ([(1, 21), (None, 5)], r"row 2, column t: empty, but coordinate 't' needs a value"),
])
def test_a_conversion_error_rejects_the_whole_upload(backend, rows, message):
    node = seeded_1d(backend)
    with pytest.raises(DataError, match=message):
        node.update(table(rows, ["t", "v"]))
    assert stored(node, "v").tolist() == [10, 11, 12, 13]


def test_merging_into_an_empty_node_with_a_large_table_fills_whole_chunks(backend):
    node = open_store(one_d_schema(backend.attrs(), chunk_size=1000), environ=backend.environ)
    t = np.arange(5000, dtype=float)[::-1]
    node.update(pd.DataFrame({"t": t, "v": t * 2}))
    ds = node.dataset
    assert ds.t.values.tolist() == sorted(t.tolist())
    assert np.array_equal(ds.v.values, np.arange(5000) * 2.0)
    assert node._arrays["v"].chunks == (1000,)
