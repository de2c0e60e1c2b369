"""The worker's loop with the real queue and the real merge engine on local stores.

The worker runs in a thread of the test process (same code as `python -m worker`, without the
signal handlers); process-level behaviour (signals, the lock, kills) is in tests/e2e.
"""
from __future__ import annotations

import random
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
import yaml

from shared.fuse import load_schema
from shared.queue import Queue

from worker.lane import LaneConfig
from worker.service import Worker

REPO = Path(__file__).resolve().parents[2]
TREE_HEADER = "timestamp,tree_id,sap_flow,stem_temperature\n"


def tree_row(rng: random.Random, index: int) -> str:
    return (f"2026-06-14 {6 + rng.randrange(4):02d}:00:00,{rng.choice(['oak-01', 'beech-07', 'spruce-12'])},"
            f"{index},{index % 40 / 2:.1f}\n")


def schema_copy(tmp_path: Path, name: str, **attrs: Any) -> Any:
    data = yaml.safe_load((REPO / "schemas" / f"{name}_schema_v1.yaml").read_text())
    for key in ("s3_url", "store_path"):
        data["ATTRS"].pop(key, None)
    data["ATTRS"].update(attrs)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_schema(path)


class RunningWorker:
    def __init__(self, queue_dir: Path, schemas: dict[str, Any], environ: dict[str, str], **config: Any) -> None:
        lane_config = LaneConfig(
            batch_items=config.get("batch_items", 100), batch_rows=config.get("batch_rows", 100_000),
            poll_seconds=0.2, retry_max_seconds=config.get("retry_max_seconds", 1.0),
            retry_base_seconds=config.get("retry_base_seconds", 0.2),
        )
        self.worker = Worker(queue_dir, schemas, lane_config, done_retention_days=7, environ=environ)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.request_stop("test")
        self.thread.join(30)
        assert not self.thread.is_alive()


def wait_for(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def done_count(queue: Queue) -> int:
    return sum(queue.counts()["done"].values())


def test_a_batch_leaves_exactly_the_store_of_merging_one_upload_at_a_time(tmp_path):
    rng = random.Random(7)
    uploads = [TREE_HEADER + "".join(tree_row(rng, i * 3 + k) for k in range(rng.randrange(1, 4))) for i in range(60)]
    for i in range(0, 60, 5):  # some uploads lack a column: the stored values there must stay
        uploads[i] = "timestamp,tree_id,sap_flow\n" + "".join(
            ",".join(line.split(",")[:3]) + "\n" for line in uploads[i].splitlines()[1:])
    for i in range(3, 60, 7):  # some have empty cells: missing is not a value
        header, first, *rest = uploads[i].splitlines()
        cells = first.split(",")
        cells[min(2 + i % 2, len(cells) - 1)] = ""
        uploads[i] = "\n".join([header, ",".join(cells), *rest]) + "\n"
    datasets = []
    for batch_items in (50, 1):
        root = tmp_path / f"batch{batch_items}"
        queue = Queue(root / "queue")
        for body in uploads:
            queue.enqueue("tree", body.encode(), format="csv")
        schemas = {"tree": schema_copy(root, "tree", STORE_URL=str(root / "tree.zarr"))}
        running = RunningWorker(root / "queue", schemas, {}, batch_items=batch_items)
        wait_for(lambda: done_count(queue) == len(uploads))
        running.stop()
        batches = {item.sidecar.batch for item in queue.items("done")}
        assert len(batches) < len(uploads) if batch_items > 1 else len(batches) == len(uploads)
        dataset = xr.open_zarr(str(root / "tree.zarr"), consolidated=False).load()
        datasets.append(dataset.drop_attrs(deep=False))  # STORE_URL differs, the data must not
    xr.testing.assert_identical(datasets[0], datasets[1])


def test_a_bad_upload_fails_alone_with_row_column_and_value_while_its_batch_merges(tmp_path):
    queue = Queue(tmp_path / "queue")
    good_1 = queue.enqueue("tree", (TREE_HEADER + "2026-06-14 06:00:00,oak-01,10,1.5\n").encode(), format="csv")
    bad = queue.enqueue("tree", (TREE_HEADER + "2026-06-14 07:00:00,oak-01,12,1.5\n"
                                 "2026-06-14 08:00:00,oak-01,lots,1.5\n").encode(), format="csv")
    good_2 = queue.enqueue("tree", (TREE_HEADER + "2026-06-14 09:00:00,oak-01,30,2.5\n").encode(), format="csv")
    schemas = {"tree": schema_copy(tmp_path, "tree", STORE_URL=str(tmp_path / "tree.zarr"))}
    running = RunningWorker(tmp_path / "queue", schemas, {})
    wait_for(lambda: done_count(queue) == 2)
    running.stop()

    assert [item.id for item in queue.items("done")] == [good_1.id, good_2.id]
    (failed,) = queue.items("failed")
    assert failed.id == bad.id
    for part in ("row 2", "sap_flow", "lots"):
        assert part in failed.sidecar.error
    assert "DataError" in failed.sidecar.traceback
    assert failed.sidecar.attempts == 1 and failed.sidecar.failed_at
    done = queue.items("done")[0].sidecar
    assert done.rows == 1 and done.merged_at
    ds = xr.open_zarr(str(tmp_path / "tree.zarr"), consolidated=False).load()
    assert sorted(ds["sap_flow"].values[~ds["sap_flow"].isnull().values].tolist()) == [10.0, 30.0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_store_keeps_its_items_queued_while_another_endpoint_merges(tmp_path):
    queue = Queue(tmp_path / "queue")
    tree_ids = [queue.enqueue("tree", (TREE_HEADER + f"2026-06-14 06:00:00,oak-01,{i},1\n").encode(),
                              format="csv").id for i in range(3)]
    weather = "timestamp,lat,lon,temp_f\n2026-11-03T08:00:00Z,50.7663,15.0543,41.0\n"
    weather_id = queue.enqueue("weather", weather.encode(), format="csv").id
    schemas = {
        "tree": schema_copy(tmp_path, "tree", s3_url=f"http://127.0.0.1:{closed_port()}",
                            store_path="zarr-fuse-ingress/tree.zarr"),
        "weather": schema_copy(tmp_path, "weather", STORE_URL=str(tmp_path / "weather.zarr")),
    }
    environ = {"S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}
    running = RunningWorker(tmp_path / "queue", schemas, environ, retry_base_seconds=0.2, retry_max_seconds=0.5)
    wait_for(lambda: done_count(queue) == 1)
    time.sleep(3)  # several retries of the tree endpoint
    running.stop()

    assert [item.id for item in queue.items("done")] == [weather_id]
    assert not queue.items("failed")
    assert [item.id for item in queue.items("accepted", "tree")] == tree_ids


def test_items_left_active_by_a_dead_worker_are_merged_at_the_next_start(tmp_path):
    queue = Queue(tmp_path / "queue")
    first = queue.enqueue("tree", (TREE_HEADER + "2026-06-14 06:00:00,oak-01,1,1\n").encode(), format="csv")
    queue.enqueue("tree", (TREE_HEADER + "2026-06-14 06:00:00,oak-01,2,1\n").encode(), format="csv")
    queue.claim(queue.scan("tree")[0])  # what a worker killed mid-merge leaves behind
    assert [item.id for item in queue.items("active")] == [first.id]
    schemas = {"tree": schema_copy(tmp_path, "tree", STORE_URL=str(tmp_path / "tree.zarr"))}
    running = RunningWorker(tmp_path / "queue", schemas, {})
    wait_for(lambda: done_count(queue) == 2)
    running.stop()
    ds = xr.open_zarr(str(tmp_path / "tree.zarr"), consolidated=False).load()
    assert float(ds["sap_flow"].values.ravel()[0]) == 2.0  # the later upload won


def test_done_items_older_than_the_retention_are_pruned(tmp_path):
    queue = Queue(tmp_path / "queue")
    queue.enqueue("tree", (TREE_HEADER + "2026-06-14 06:00:00,oak-01,1,1\n").encode(), format="csv")
    queue.complete(queue.scan("tree")[0], rows=1)
    assert queue.counts()["done"] == {"tree": 1}
    schemas = {"tree": schema_copy(tmp_path, "tree", STORE_URL=str(tmp_path / "tree.zarr"))}
    worker = Worker(tmp_path / "queue", schemas, LaneConfig(10, 100, 0.2, 1.0), done_retention_days=0, environ={})
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    wait_for(lambda: not queue.items("done"))
    worker.request_stop("test")
    thread.join(30)


def test_columns_the_engine_leaves_out_are_recorded_on_the_done_item_even_when_no_gateway_checked(tmp_path):
    queue = Queue(tmp_path / "queue")
    unchecked = queue.enqueue("tree", b"timestamp,tree_id,sap_flow,humidity\n2026-06-14 06:00:00,oak-01,10,80\n",
                              format="csv")
    records = b'[{"timestamp": "2026-06-14 07:00:00", "tree_id": "oak-01", "sap_flow": 11, "wind": 3}]'
    unchecked_json = queue.enqueue("tree", records, format="json")
    checked = queue.enqueue("tree", b"timestamp,tree_id,sap_flow,humidity\n2026-06-14 08:00:00,oak-01,12,81\n",
                            format="csv", ignored_columns=["humidity"])
    schemas = {"tree": schema_copy(tmp_path, "tree", STORE_URL=str(tmp_path / "tree.zarr"))}
    running = RunningWorker(tmp_path / "queue", schemas, {})
    wait_for(lambda: done_count(queue) == 3)
    running.stop()
    assert queue.find(unchecked.id).sidecar.ignored_columns == ["humidity"]
    assert queue.find(unchecked_json.id).sidecar.ignored_columns == ["wind"]
    assert queue.find(checked.id).sidecar.ignored_columns == ["humidity"]
