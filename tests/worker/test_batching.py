"""Which consecutive waiting items merge together."""
from types import SimpleNamespace

from worker.batching import plan_batch


def item(upload_id: str, node: str = "", rows: int = 1, bad: bool = False) -> SimpleNamespace:
    return SimpleNamespace(sidecar=SimpleNamespace(id=upload_id, node_path=node), rows=rows, bad=bad)


def read(it: SimpleNamespace) -> list[int]:
    if it.bad:
        raise ValueError("unparseable")
    return [0] * it.rows


def test_a_batch_is_the_run_of_items_for_the_same_node_in_id_order():
    items = [item("1"), item("2"), item("3", node="diagnostics"), item("4")]
    assert [e.item.sidecar.id for e in plan_batch(items, read, 100, 1000)] == ["1", "2"]


def test_a_batch_holds_at_most_the_item_limit():
    items = [item(str(i)) for i in range(10)]
    assert len(plan_batch(items, read, 3, 1000)) == 3


def test_a_batch_stops_before_the_item_that_would_pass_the_row_limit():
    items = [item("1", rows=40), item("2", rows=50), item("3", rows=20)]
    assert [e.rows for e in plan_batch(items, read, 100, 100)] == [40, 50]


def test_an_item_bigger_than_the_row_limit_is_a_batch_of_its_own():
    items = [item("1", rows=500), item("2")]
    assert [e.item.sidecar.id for e in plan_batch(items, read, 100, 100)] == ["1"]


def test_an_unparseable_item_stays_in_the_batch_with_its_error_so_it_fails_alone():
    batch = plan_batch([item("1"), item("2", bad=True), item("3")], read, 100, 100)
    assert [e.error is None for e in batch] == [True, False, True]
    assert "unparseable" in batch[1].traceback


def test_batching_off_means_one_item_per_batch():
    assert len(plan_batch([item("1"), item("2")], read, 1, 100)) == 1
