"""`queue replace`, `queue retry`'s selectors, a completion finished from its record, schema reload."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from shared.fuse.errors import SchemaError
from shared.queue import Queue
from shared.schema_file import WatchedSchema, force_reload

from worker.queue_cli import main

REPO = Path(__file__).resolve().parents[2]
CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,n/a\n"


def failed_queue(tmp_path: Path, count: int, endpoint: str = "tree") -> tuple[Queue, list[str]]:
    queue = Queue(tmp_path / "queue")
    ids = []
    for _ in range(count):
        item = queue.find(queue.enqueue(endpoint, CSV, format="csv").id)
        queue.fail(item, "row 1, column sap_flow: 'n/a' is not a number", "Traceback ...")
        ids.append(item.id)
    return queue, ids


def run(queue: Queue, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["--queue-dir", str(queue.root), *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_replace_puts_the_correction_in_place_keeping_id_and_the_old_checksum(tmp_path, capsys):
    queue, (upload_id,) = failed_queue(tmp_path, 1)
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,12.5\n")
    code, out = run(queue, capsys, "replace", upload_id, str(fixed))
    assert code == 0, out
    item = queue.find(upload_id)
    assert item.state == "failed" and item.read_payload() == fixed.read_bytes()
    assert item.sidecar.sha256 == hashlib.sha256(fixed.read_bytes()).hexdigest()
    assert [(r["sha256"], r["size"]) for r in item.sidecar.extra["replaced"]] == [(hashlib.sha256(CSV).hexdigest(), len(CSV))]
    # A second correction keeps both earlier versions, oldest first.
    code, out = run(queue, capsys, "replace", upload_id, str(fixed))
    assert code == 0 and len(queue.find(upload_id).sidecar.extra["replaced"]) == 2


def test_replace_refuses_an_upload_that_is_not_failed_naming_its_state(tmp_path, capsys):
    queue = Queue(tmp_path / "queue")
    waiting = queue.enqueue("tree", CSV, format="csv")
    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(CSV)
    code, out = run(queue, capsys, "replace", waiting.id, str(fixed))
    assert code == 1 and "is accepted, only failed uploads can be replaced" in out
    assert queue.find(waiting.id).read_payload() == CSV


def test_retry_selects_by_endpoint_and_failed_at_window(tmp_path, capsys):
    queue, tree_ids = failed_queue(tmp_path, 3)
    weather = queue.find(queue.enqueue("weather", CSV, format="csv").id)
    queue.fail(weather, "bad", "")
    # The first tree upload failed three hours ago.
    old = queue.find(tree_ids[0])
    three_hours_ago = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    queue._place(old, "failed", old.sidecar.updated(revision=old.sidecar.revision + 1, failed_at=three_hours_ago))

    code, out = run(queue, capsys, "retry", "--endpoint", "tree", "--since", "1h")
    assert code == 0, out
    assert [item.id for item in queue.scan()] == tree_ids[1:]
    code, out = run(queue, capsys, "retry", "--until", "2h")
    assert code == 0 and [item.id for item in queue.scan()] == tree_ids
    code, out = run(queue, capsys, "retry", "--all")
    assert code == 0 and len(queue.scan()) == 4
    code, out = run(queue, capsys, "retry", tree_ids[0], "--all")
    assert code == 2 and "give upload ids, or select" in out


def test_a_completion_interrupted_after_its_record_is_finished_from_it(tmp_path):
    queue = Queue(tmp_path / "queue")
    for _ in range(3):
        queue.enqueue("tree", CSV, format="csv")
    items = queue.scan("tree")
    done = queue.complete_batch(items, [{"rows": 1}] * 3, items[0].id)
    # Put the disk back as a crash after the commit point and one move leaves it.
    record = queue.root / "batches" / "tree" / f"{items[0].id}.json"
    record.write_text(json.dumps({"batch": items[0].id, "endpoint": "tree",
                                                "items": [json.loads(d.sidecar.to_json()) for d in done]}))
    for item, moved in zip(items[1:], done[1:]):
        os.replace(moved.payload_path, item.payload_path)
        os.replace(moved.sidecar_path, item.sidecar_path)
        item.sidecar_path.write_text(item.sidecar.to_json())
    assert [i.id for i in queue.scan("tree")] == [i.id for i in items[1:]]
    finished = queue.recover()
    assert [i.id for i in finished] == [i.id for i in items[1:]]
    assert queue.scan("tree") == [] and queue.counts()["done"]["tree"] == 3
    assert not record.exists()
    assert all(queue.find(i.id).sidecar.rows == 1 and queue.find(i.id).sidecar.batch == items[0].id for i in items)


def schema_file(tmp_path: Path) -> tuple[Path, dict]:
    data = yaml.safe_load((REPO / "schemas" / "tree_schema_v1.yaml").read_text())
    path = tmp_path / "tree.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def test_a_changed_schema_file_is_reloaded_and_a_broken_one_refused_naming_the_file(tmp_path, caplog):
    path, data = schema_file(tmp_path)
    watched = WatchedSchema(path)
    first = watched.refresh()
    assert watched.refresh() is first  # unchanged: the same object, no reload

    path.write_text(path.read_text() + "\n  broken: [unclosed\n")
    with caplog.at_level(logging.ERROR, logger="zarr_ingress.schema"):
        assert watched.refresh() is first
    assert f"event=schema_reload_refused file={path}" in caplog.text

    data["VARS"]["sap_flow"]["range"] = {"interval": [0, 10000]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    reloaded = watched.refresh()
    assert first.node_schema("").vars["sap_flow"].range.hi == 5000
    assert reloaded.node_schema("").vars["sap_flow"].range.hi == 10000


def test_sighup_rereads_a_schema_whose_mtime_did_not_move(tmp_path):
    path, data = schema_file(tmp_path)
    watched = WatchedSchema(path, min_interval=3600)  # would not look again for an hour
    first = watched.refresh()
    stat = path.stat()
    data["VARS"]["sap_flow"]["range"] = {"interval": [0, 10000]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert watched.refresh() is first
    force_reload()
    assert watched.refresh().node_schema("").vars["sap_flow"].range.hi == 10000


def test_a_schema_invalid_at_start_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "tree.yaml"
    path.write_text("COORDS: [unclosed\n")
    with pytest.raises(SchemaError, match="tree.yaml"):
        WatchedSchema(path)
