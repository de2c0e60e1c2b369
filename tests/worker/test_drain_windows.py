"""A backlog larger than one scan window drains in one go, not one window per poll interval."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from shared.fuse import load_schema
from shared.queue import Queue

from worker.lane import SCAN_BATCHES, SCAN_MIN, Lane, LaneConfig
from worker.metrics import WorkerMetrics

REPO = Path(__file__).resolve().parents[2]
HEADER = "timestamp,tree_id,sap_flow\n"


def local_schema(tmp_path: Path):
    data = yaml.safe_load((REPO / "schemas" / "tree_schema_v1.yaml").read_text())
    data["ATTRS"].pop("s3_url", None)
    data["ATTRS"]["store_path"] = "tree.zarr"
    return load_schema(data)


def test_one_drain_merges_a_backlog_of_more_than_one_scan_window(tmp_path):
    batch_items = 200
    window = max(SCAN_BATCHES * batch_items, SCAN_MIN)
    backlog = window + 150
    queue = Queue(tmp_path / "queue")
    with ThreadPoolExecutor(8) as pool:  # the enqueue fsyncs overlap; ids still sort in acceptance order
        list(pool.map(lambda n: queue.enqueue(
            "tree", f"{HEADER}2026-06-14 {n // 60 % 24:02d}:{n % 60:02d}:00,oak-{n // 1440},{n}\n".encode(),
            format="csv"), range(backlog)))
    # A poll interval far longer than the test: only a drain that rescans at once finishes it.
    config = LaneConfig(batch_items=batch_items, batch_rows=100_000, poll_seconds=3600, retry_max_seconds=1.0)
    lane = Lane("tree", local_schema(tmp_path), queue, config, WorkerMetrics(), threading.Event(),
                environ={"STORE_ROOT": str(tmp_path / "stores")})
    lane.drain_once()
    counts = queue.counts()
    assert counts["accepted"].get("tree", 0) == 0, f"{counts['accepted']['tree']} of {backlog} left for the next poll"
    assert counts["done"]["tree"] == backlog
