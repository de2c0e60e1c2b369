"""Which consecutive waiting items merge together, and how a batch becomes one table."""
from types import SimpleNamespace

import pytest

from shared.parse import ParseError

from worker.batching import batch_table, count_csv_rows, plan_batch

HEADER = b"timestamp,tree_id,sap_flow\n"


def item(upload_id: str, rows: int = 1, node: str = "", fmt: str = "csv", payload: bytes | None = None):
    body = payload if payload is not None else HEADER + b"".join(
        b"2026-06-14 06:00:00,oak-%s,%d\n" % (upload_id.encode(), n) for n in range(rows))
    return SimpleNamespace(sidecar=SimpleNamespace(id=upload_id, node_path=node, format=fmt), body=body)


def plan(items, max_items=100, max_rows=1000):
    return plan_batch(items, lambda it: it.body, max_items, max_rows)


def test_a_batch_is_the_run_of_items_for_the_same_node_and_format_in_id_order():
    items = [item("1"), item("2"), item("3", node="diagnostics"), item("4")]
    assert [e.item.sidecar.id for e in plan(items)] == ["1", "2"]
    items = [item("1"), item("2", fmt="json", payload=b'[{"a": 1}]'), item("3")]
    assert [e.item.sidecar.id for e in plan(items)] == ["1"]


def test_a_batch_holds_at_most_the_item_limit():
    assert len(plan([item(str(i)) for i in range(10)], max_items=3)) == 3


def test_a_batch_stops_before_the_item_that_would_pass_the_row_limit():
    items = [item("1", rows=40), item("2", rows=50), item("3", rows=20)]
    assert [e.rows for e in plan(items, max_rows=100)] == [40, 50]


def test_an_item_bigger_than_the_row_limit_is_a_batch_of_its_own():
    assert [e.item.sidecar.id for e in plan([item("1", rows=500), item("2")], max_rows=100)] == ["1"]


def test_batching_off_means_one_item_per_batch():
    assert len(plan([item("1"), item("2")], max_items=1)) == 1


def test_csv_rows_are_counted_with_quoted_newlines_and_without_blank_lines():
    assert count_csv_rows(b'a,b\n1,"two\nlines"\n\n3,4\n') == 2
    assert count_csv_rows(b"a,b\r\n1,2") == 1


def test_a_batch_table_holds_every_row_in_order_even_across_different_headers():
    same = plan([item("1", rows=2), item("2", rows=1, payload=HEADER + b"2026-06-14 07:00:00,oak-2,9")])
    table = batch_table(same)
    assert list(table["sap_flow"]) == ["0", "1", "9"]
    mixed = plan([item("1"), item("2", payload=b"timestamp,tree_id\n2026-06-14 08:00:00,oak-9\n")])
    table = batch_table(mixed)
    assert list(table["tree_id"]) == ["oak-1", "oak-9"] and len(table) == 2


def test_a_batch_with_an_unparseable_item_raises_so_the_lane_goes_item_by_item():
    batch = plan([item("1"), item("2", payload=b"timestamp,tree_id,sap_flow\n1,2\n")])
    with pytest.raises((ParseError, ValueError)):
        batch_table(batch)
