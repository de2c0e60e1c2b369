"""The heartbeat the gateway's /ready reads, and the key=value lifecycle lines."""
import json
import os
from datetime import datetime, timedelta, timezone

from shared.queue.heartbeat import HEARTBEAT_FILE, read_heartbeat, remove_heartbeat, write_heartbeat
from shared.logs import format_fields


def test_the_heartbeat_is_json_with_pid_and_a_utc_time(tmp_path):
    write_heartbeat(tmp_path, datetime.now(timezone.utc))
    record = json.loads((tmp_path / HEARTBEAT_FILE).read_text())
    assert record["pid"] == os.getpid()
    assert record["at"].endswith("Z")
    heartbeat = read_heartbeat(tmp_path)
    assert heartbeat is not None and heartbeat.is_alive()
    assert not heartbeat.is_alive(heartbeat.at + timedelta(seconds=60))


def test_a_worker_removes_only_its_own_heartbeat(tmp_path):
    path = tmp_path / HEARTBEAT_FILE
    path.write_text(json.dumps({"pid": os.getpid() + 1, "host": "other", "at": "2026-01-01T00:00:00Z"}))
    remove_heartbeat(tmp_path)
    assert path.exists()
    write_heartbeat(tmp_path, datetime.now(timezone.utc))
    remove_heartbeat(tmp_path)
    assert not path.exists()


def test_a_missing_or_garbled_heartbeat_reads_as_none(tmp_path):
    assert read_heartbeat(tmp_path) is None
    (tmp_path / HEARTBEAT_FILE).write_text("{not json")
    assert read_heartbeat(tmp_path) is None


def test_log_values_with_spaces_or_quotes_are_quoted():
    line = format_fields(event="failed", id="0001-abc", error="row 3, column temp: 'x' is not a number")
    assert line == "event=failed id=0001-abc error=\"row 3, column temp: 'x' is not a number\""
