"""`zarr-ingress queue ...`: what an operator sees and can do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from shared.queue import Queue

from shared.queue.heartbeat import write_heartbeat
from worker.queue_cli import main, parse_age

REPO = Path(__file__).resolve().parents[2]
CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,1\n2026-06-14 07:00:00,oak-01,2\n"


@pytest.fixture
def queue(tmp_path: Path) -> Queue:
    """Two done, one failed (tree), one waiting (weather)."""
    q = Queue(tmp_path / "queue")
    for _ in range(3):
        q.enqueue("tree", CSV, format="csv")
    q.enqueue("weather", b"timestamp,lat,lon\n2026-11-03T08:00:00Z,50.7,15.0\n", format="csv", node_path="")
    first, second, third = q.scan("tree")
    q.complete(q.claim(first), rows=2, batch=first.id)
    q.fail(q.claim(second), "row 2, column sap_flow: 'n/a' is not a number", "Traceback ...\nDataError: row 2")
    q.complete(q.claim(third), rows=2, batch=third.id)
    return q


def run(queue: Queue, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--queue-dir", str(queue.root), *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_status_counts_items_per_state_and_endpoint_and_says_whether_the_worker_lives(queue, capsys):
    code, out = run(queue, capsys, "status")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["endpoint", "waiting", "active", "done", "failed"]
    rows = [line.split() for line in lines]
    assert ["tree", "0", "0", "2", "1"] in rows
    assert ["weather", "1", "0", "0", "0"] in rows
    assert ["total", "1", "0", "2", "1"] in rows
    assert "oldest waiting:" in out and "(weather)" in out
    assert "worker: not running" in out

    write_heartbeat(queue.root, datetime.now(timezone.utc))
    code, out = run(queue, capsys, "status", "--json")
    status = json.loads(out)
    assert status["totals"] == {"waiting": 1, "active": 0, "done": 2, "failed": 1}
    assert status["counts"]["tree"]["done"] == 2
    assert status["worker"]["alive"] is True and status["worker"]["pid"] == os.getpid()
    assert status["oldest_waiting"]["endpoint"] == "weather"


def test_failed_lists_id_endpoint_node_time_and_a_one_line_reason(queue, capsys):
    code, out = run(queue, capsys, "failed")
    (failed,) = queue.items("failed")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["id", "endpoint", "node"]
    row = out.splitlines()[1]
    assert failed.id in row and "tree" in row and "row 2, column sap_flow: 'n/a' is not a number" in row
    code, out = run(queue, capsys, "failed", "--json")
    assert json.loads(out)[0]["id"] == failed.id


def test_show_prints_the_sidecar_the_error_and_the_first_payload_lines(queue, capsys):
    (failed,) = queue.items("failed")
    code, out = run(queue, capsys, "show", failed.id, "--lines", "2")
    assert code == 0
    assert "state: failed" in out and f"id: {failed.id}" in out
    assert "error: row 2, column sap_flow" in out and "DataError: row 2" in out
    assert "  timestamp,tree_id,sap_flow\n  2026-06-14 06:00:00,oak-01,1\n" in out
    assert "07:00:00" not in out
    code, out = run(queue, capsys, "show", "20200101T000000_000000000Z")
    assert code == 1 and "no upload with id" in out


def test_retry_puts_failed_uploads_back_in_their_original_order(queue, capsys):
    (failed,) = queue.items("failed")
    code, out = run(queue, capsys, "retry", "--all", "--endpoint", "tree", "--json")
    assert code == 0 and json.loads(out)["retried"] == [failed.id]
    waiting = [item.id for item in queue.scan()]
    assert waiting == sorted(waiting) and failed.id in waiting
    assert queue.find(failed.id).sidecar.error is None
    code, out = run(queue, capsys, "retry", failed.id)
    assert code == 1 and "only failed uploads can be retried" in out


def test_purge_removes_old_done_items_and_named_failed_items(queue, capsys):
    code, out = run(queue, capsys, "purge", "--done", "--older-than", "7d")
    assert code == 0 and "removed 0 done" in out
    code, out = run(queue, capsys, "purge", "--done", "--older-than", "0s")
    assert "removed 2 done" in out and not queue.items("done")
    (failed,) = queue.items("failed")
    code, out = run(queue, capsys, "purge", "--failed", failed.id, "--json")
    assert json.loads(out) == {"state": "failed", "removed": 1}
    code, out = run(queue, capsys, "purge", "--failed")
    assert code == 2


def test_ages_read_like_an_operator_writes_them():
    assert parse_age("7d").total_seconds() == 7 * 86400
    assert parse_age("12h").total_seconds() == 12 * 3600
    assert parse_age("90").total_seconds() == 90


def test_the_module_runs_as_zarr_ingress_queue_and_reads_queue_dir_from_the_environment(queue, tmp_path):
    env = {**os.environ, "QUEUE_DIR": str(queue.root), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "worker.queue_cli", "status"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "weather" in result.stdout
