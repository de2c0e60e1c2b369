"""`python -m worker` as a process: the lock, the standby, signals, start-up errors."""
from __future__ import annotations

import json
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.queue import Queue

from e2e_stack import wait_until

TREE = "timestamp,tree_id,sap_flow\n2026-06-14 {hour:02d}:00:00,oak-01,{value}\n"


def enqueue(stack, count: int, start: int = 0) -> list[str]:
    queue = Queue(stack.queue_dir)
    return [queue.enqueue("tree", TREE.format(hour=(start + i) % 24, value=start + i).encode(), format="csv").id
            for i in range(count)]


def heartbeat_pid(stack) -> int | None:
    try:
        return json.loads((stack.queue_dir / "worker.heartbeat").read_text())["pid"]
    except (OSError, ValueError):
        return None


def merged_ids(log: str) -> list[str]:
    return re.findall(r"event=merged upload_id=(\S+)", log)


def test_two_workers_on_one_queue_merge_one_at_a_time_and_the_standby_takes_over(make_stack, tmp_path):
    stack = make_stack(store_root=tmp_path / "stores")
    first = stack.start_worker("worker-a")
    wait_until(lambda: heartbeat_pid(stack) == first.pid, 60, "worker-a holds the queue")
    second = stack.start_worker("worker-b")
    wait_until(lambda: "event=standby" in second.log(), 60, "worker-b waits as a standby")

    before = enqueue(stack, 5)
    stack.wait_drained(5, 60)
    assert sorted(merged_ids(first.log())) == before
    assert merged_ids(second.log()) == []

    first.kill()  # SIGKILL: no clean-up, the OS drops the lock
    killed_at = time.monotonic()
    wait_until(lambda: heartbeat_pid(stack) == second.pid, 30, "worker-b takes over")
    assert time.monotonic() - killed_at < 10
    after = enqueue(stack, 5, start=5)
    stack.wait_drained(10, 60)
    assert sorted(merged_ids(second.log())) == after
    assert stack.count("failed") == 0


def test_sigterm_stops_the_worker_cleanly_and_quickly(make_stack, tmp_path):
    stack = make_stack(store_root=tmp_path / "stores")
    worker = stack.start_worker()
    wait_until(lambda: heartbeat_pid(stack) == worker.pid, 60, "worker running")
    enqueue(stack, 20)
    wait_until(lambda: stack.count("done") > 0, 60, "merging started")
    worker.signal(signal.SIGTERM)
    started = time.monotonic()
    assert worker.popen.wait(30) == 0
    assert time.monotonic() - started < 30
    assert "event=stopped" in worker.log()
    assert not (stack.queue_dir / "worker.heartbeat").exists()
    # Whatever was not merged is waiting, whole: nothing active, nothing failed, nothing lost.
    assert stack.count("active") == 0 and stack.count("failed") == 0
    assert stack.count("done") + stack.count("accepted") == 20


def test_an_invalid_schema_stops_the_worker_with_one_line_naming_file_and_key(make_stack, tmp_path):
    stack = make_stack(store_root=tmp_path / "stores")
    schema = stack.root / "schemas" / "weather_schema_v1.yaml"
    schema.write_text(schema.read_text().replace("    type: float32", "    dtype: float32"))
    worker = stack.start_worker()
    assert worker.popen.wait(60) == 2
    lines = [line for line in worker.log().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "weather_schema_v1.yaml" in lines[0] and "dtype" in lines[0]


def test_the_worker_serves_its_metrics_merged_failed_retried_and_merge_seconds(make_stack, tmp_path):
    import requests

    from e2e_stack import free_port

    port = free_port()
    stack = make_stack(store_root=tmp_path / "stores", extra_env={"WORKER_METRICS_PORT": str(port)})
    stack.start_worker()
    enqueue(stack, 3)
    Queue(stack.queue_dir).enqueue("tree", b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,x\n",
                                   format="csv")
    wait_until(lambda: stack.count("done") == 3 and stack.count("failed") == 1, 60, "merged and failed")
    # The counters follow the moves to done/ (a merged item is counted once its move is durable),
    # so wait for the scrape that shows them rather than racing the lane.
    merged = 'zarr_ingress_worker_merged_total{endpoint="tree"} 3.0'

    def scrape_showing_merged() -> str | None:
        text = _get(requests, f"http://127.0.0.1:{port}/metrics")
        return text if text and merged in text else None

    text = wait_until(scrape_showing_merged, 30, "metrics served, counting 3 merged")
    assert 'zarr_ingress_worker_failed_total{endpoint="tree"} 1.0' in text
    assert "zarr_ingress_worker_retried_total" in text
    assert 'zarr_ingress_worker_merge_seconds_count{endpoint="tree"}' in text


def _get(requests, url: str) -> str | None:
    try:
        return requests.get(url, timeout=2).text
    except requests.RequestException:
        return None


def test_a_new_upload_is_merged_at_once_by_the_arrival_watch_not_at_the_next_rescan(make_stack, tmp_path):
    stack = make_stack(store_root=tmp_path / "stores", extra_env={"WORKER_POLL_SECONDS": "60"})
    worker = stack.start_worker()
    wait_until(lambda: heartbeat_pid(stack) == worker.pid, 60, "worker running")
    time.sleep(1)  # past the start-up scan
    enqueue(stack, 1)
    started = time.monotonic()
    stack.wait_drained(1, 30)
    assert time.monotonic() - started < 10


def test_store_root_from_dotenv_puts_the_stores_on_the_local_disk(make_stack, tmp_path):
    # `make run` keeps STORE_ROOT in .env, not in the environment: the stores must follow it.
    stack = make_stack()
    stores = tmp_path / "dotenv-stores"
    (stack.root / ".env").write_text(f"STORE_ROOT={stores}\n")
    worker = stack.start_worker()
    enqueue(stack, 3)
    wait_until(lambda: stack.count("done") == 3, 60, f"merged into STORE_ROOT from .env:\n{worker.log()[-2000:]}")
    assert stack.count("failed") == 0
    assert (stores / "zarr-fuse-ingress" / "tree.zarr" / "zarr.json").is_file()


def flood(stack, seconds: float, most: int = 3000) -> list[str]:
    """Uploads queued one after the other as fast as one thread can (Queue.enqueue, the gateway's
    own path), for `seconds` or `most` uploads, whichever comes first. One after the other: each
    was accepted before the next was sent, so acceptance order is their id order (concurrent
    uploads have no order between them)."""
    queue, ids, deadline = Queue(stack.queue_dir), [], time.monotonic() + seconds
    while time.monotonic() < deadline and len(ids) < most:
        ids.append(queue.enqueue("tree", TREE.format(hour=len(ids) % 24, value=len(ids)).encode(), format="csv").id)
    return ids


@pytest.mark.parametrize("share, paced", [("0.05", True), ("1", False)])
def test_a_flood_of_uploads_paces_the_worker_and_all_of_it_merges_in_order_after(make_stack, tmp_path, share, paced):
    stack = make_stack(store_root=tmp_path / "stores")
    worker = stack.start_worker(env={"WORKER_BUSY_UPLOADS": "20", "WORKER_BUSY_SHARE": share, "WORKER_NICE": "0"})
    wait_until(lambda: heartbeat_pid(stack) == worker.pid, 60, "worker running")
    enqueue(stack, 1)
    stack.wait_drained(1, 60)  # the merge engine is loaded and the first rate sample taken
    ids = [stack.ids("done")[0], *flood(stack, seconds=4)]
    rate = (len(ids) - 1) / 4
    assert rate >= 40, f"the flood was only {rate:.0f} uploads/s: not a test of pacing"
    stack.wait_drained(len(ids), 180)
    # A batch's merged lines are written once its moves to done/ are through: wait for them too.
    wait_until(lambda: len(merged_ids(worker.log())) >= len(ids), 60, "the merged lines")
    log = worker.log()
    assert merged_ids(log) == ids  # nothing lost, nothing twice, in acceptance order
    assert stack.count("failed") == 0
    if paced:
        assert log.index("event=pacing_started") < log.index("event=pacing_ended"), log[-3000:]
        ended = re.search(r"event=pacing_ended rate=\d+ paused_seconds=([\d.]+)", log)
        assert ended and float(ended.group(1)) > 0, log[-3000:]
    else:
        assert "event=pacing_" not in log


def test_uploads_the_worker_merges_before_their_publish_returned_are_accepted_not_errors(make_stack, tmp_path):
    """Eight threads publish while a worker (woken within 0.1 s, no pacing) merges them: an upload
    can be merged and moved to done/ before the thread that published it runs its next line.
    Each must still come back accepted (the gateway's 202), never as an error (its 500)."""
    stack = make_stack(store_root=tmp_path / "stores")
    worker = stack.start_worker(env={"WORKER_BUSY_SHARE": "1", "WORKER_NICE": "0"})
    wait_until(lambda: heartbeat_pid(stack) == worker.pid, 60, "worker running")
    queue, deadline = Queue(stack.queue_dir), time.monotonic() + 6

    def publish(first: int) -> list[str]:
        ids: list[str] = []
        while time.monotonic() < deadline and len(ids) < 400:
            value = first + 8 * len(ids)
            ids.append(queue.enqueue("tree", TREE.format(hour=value % 24, value=value).encode(), format="csv").id)
        return ids

    with ThreadPoolExecutor(8) as pool:
        ids = [upload_id for batch in pool.map(publish, range(8)) for upload_id in batch]  # raises on an error
    stack.wait_drained(len(ids), 180)
    wait_until(lambda: len(merged_ids(worker.log())) >= len(ids), 60, "the merged lines")
    assert sorted(merged_ids(worker.log())) == sorted(ids) and stack.count("failed") == 0
    assert not list((stack.queue_dir / "orphans").rglob("*.*"))
