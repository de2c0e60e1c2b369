"""A hung S3 (accepts connections, never answers): bounded attempts, stall lines, lane state (issue 10, item 8).

The hung S3 is a real TCP server on 127.0.0.1 that accepts every connection and never sends a byte.
"""
from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.fuse import open_store
from shared.fuse.errors import StoreError
from shared.queue import Queue
from shared.queue.heartbeat import read_heartbeat
from worker.lane import LaneConfig
from worker.queue_cli import main as queue_cli
from worker.service import Worker
from test_worker_merges import TREE_HEADER, schema_copy, wait_for

S3_ENV = {"S3_ACCESS_KEY": "hung-key", "S3_SECRET_KEY": "hung-secret-never-logged", "S3_READ_TIMEOUT": "1"}


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """An endpoint URL whose server accepts and then says nothing until the test ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(socket.timeout, OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


def test_opening_a_store_on_a_hung_s3_gives_up_within_the_read_timeout(tmp_path):
    outcome: list[BaseException] = []
    with silent_server() as url:
        schema = schema_copy(tmp_path, "tree", STORE_URL="s3://hung-bucket/tree.zarr")

        def attempt() -> None:
            try:
                open_store(schema, environ={**S3_ENV, "S3_ENDPOINT_URL": url})
            except BaseException as error:  # noqa: BLE001 - the test inspects whatever came
                outcome.append(error)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        # Two attempts of S3_READ_TIMEOUT=1 s each; the old fixed 60 s read timeout took 2 minutes.
        thread.join(20)
        assert not thread.is_alive(), "open_store still waiting on a hung S3 after 20 s"
    (error,) = outcome
    assert isinstance(error, StoreError) and "timeout" in str(error).lower()
    assert "hung-bucket" in str(error) and S3_ENV["S3_SECRET_KEY"] not in str(error)


def test_a_worker_on_a_hung_s3_logs_the_stall_and_queue_status_shows_the_lane_unreachable(tmp_path, caplog):
    queue = Queue(tmp_path / "queue")
    queue.enqueue("tree", (TREE_HEADER + "2026-06-14 06:00:00,oak-01,10,1.5\n").encode(), format="csv")
    config = LaneConfig(batch_items=10, batch_rows=1000, poll_seconds=0.2, retry_max_seconds=1.0,
                        retry_base_seconds=0.2)
    caplog.set_level(logging.INFO, logger="worker")
    with silent_server() as url:
        schemas = {"tree": schema_copy(tmp_path, "tree", STORE_URL="s3://hung-bucket/tree.zarr")}
        worker = Worker(tmp_path / "queue", schemas, config, done_retention_days=7,
                        environ={**S3_ENV, "S3_READ_TIMEOUT": "2", "S3_ENDPOINT_URL": url}, stall_log_seconds=1)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            def lane_state() -> str | None:
                beat = read_heartbeat(tmp_path / "queue")
                return beat.lanes.get("tree", {}).get("state") if beat else None

            wait_for(lambda: lane_state() == "store unreachable", timeout=60)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert queue_cli(["--queue-dir", str(tmp_path / "queue"), "status"]) == 0
        finally:
            worker.request_stop("test")
            thread.join(60)
    assert not thread.is_alive()
    (line,) = [row for row in out.getvalue().splitlines() if row.startswith("lane tree:")]
    assert line.startswith("lane tree: store unreachable since ") and "UTC" in line
    assert "hung-bucket" in line and "timeout" in line.lower()
    stalls = [r.getMessage() for r in caplog.records if "event=lane_stalled" in r.getMessage()]
    assert stalls and 'doing="opening the store"' in stalls[0] and "endpoint=tree" in stalls[0]
    assert S3_ENV["S3_SECRET_KEY"] not in caplog.text
