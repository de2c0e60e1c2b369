"""A batch's completion in two halves (commit, then finish) and scans that read in threads."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.queue import Queue, SIDECAR_SUFFIX


def queue_with(tmp_path, count: int) -> Queue:
    queue = Queue(tmp_path / "q")
    for n in range(count):
        queue.enqueue("tree", b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,%d\n" % n, format="csv")
    return queue


def test_a_committed_batch_whose_moves_never_ran_is_done_after_a_restart(tmp_path):
    queue = queue_with(tmp_path, 3)
    items = queue.scan("tree")
    queue.commit_batch(items, [{"rows": 1}] * 3, items[0].id)  # the worker dies here, before any move
    assert [item.id for item in queue.scan("tree")] == [item.id for item in items]  # still there ...
    restarted = Queue(tmp_path / "q")
    restarted.recover()
    assert restarted.scan("tree") == []  # ... but never merged again: the record finished them
    done = restarted.items("done", "tree")
    assert [item.id for item in done] == [item.id for item in items]
    assert all(item.sidecar.batch == items[0].id and item.sidecar.rows == 1 for item in done)
    assert list((tmp_path / "q" / "batches" / "tree").iterdir()) == []


def test_finish_moves_a_committed_batch_to_done_and_drops_its_record(tmp_path):
    queue = queue_with(tmp_path, 3)
    items = queue.scan("tree")
    committed = queue.commit_batch(items, [{"rows": 1}] * 3, items[0].id)
    with ThreadPoolExecutor(4) as pool:
        done = queue.finish_batch(committed, pool=pool)
    assert [item.id for item in done] == [item.id for item in items]
    assert [item.sidecar for item in queue.items("done", "tree")] == [item.sidecar for item in done]
    assert queue.scan("tree") == [] and not committed.record.exists()


def test_a_scan_reading_in_threads_finds_what_a_plain_scan_finds(tmp_path):
    queue = queue_with(tmp_path, 150)
    broken = sorted((tmp_path / "q" / "accepted" / "tree").glob("*" + SIDECAR_SUFFIX))[3]
    broken.write_text("{not json")  # skipped with a warning, and the limit still filled
    with ThreadPoolExecutor(4) as pool:
        for limit in (None, 1, 10, 149, 500):
            assert queue.scan("tree", limit=limit, pool=pool) == queue.scan("tree", limit=limit)
        assert len(queue.scan("tree", limit=100, pool=pool)) == 100
        assert len(queue.scan("tree", pool=pool)) == 149
