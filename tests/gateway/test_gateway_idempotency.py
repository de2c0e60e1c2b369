"""Idempotency-Key means "this very body": another body under a used key is a 409 (issue 10, item 4)."""

from __future__ import annotations

from gateway.app import create_app
from gateway_helpers import AUTH, TEST_DATA, accepted_files, make_settings

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
OTHER_CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 07:00:00,oak-01,2.5\n"
HEADERS = {**AUTH, "Content-Type": "text/csv", "Idempotency-Key": "oak-logger-batch-41"}


def test_the_same_key_with_a_different_body_is_409_naming_the_original_id_and_queues_nothing(client, queue_dir):
    first = client.post("/api/v1/tree", data=TREE_CSV, headers=HEADERS)
    assert first.status_code == 202
    conflict = client.post("/api/v1/tree", data=OTHER_CSV, headers=HEADERS)
    assert conflict.status_code == 409
    original = first.get_json()["id"]
    body = conflict.get_json()
    assert body["id"] == original and original in body["error"] and "different body" in body["error"]
    assert conflict.headers["Location"] == f"/api/v1/uploads/{original}"
    assert len(accepted_files(queue_dir)) == 2  # the first item only: payload + sidecar


def test_the_same_key_with_the_same_body_still_replays_the_original_id(client):
    first = client.post("/api/v1/tree", data=TREE_CSV, headers=HEADERS)
    again = client.post("/api/v1/tree", data=TREE_CSV, headers=HEADERS)
    assert again.status_code == 202 and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_is_scoped_to_the_node_path_too(client, queue_dir):
    diagnostics = b"timestamp,sensor_id,battery\n2026-11-01 00:00:00,BH-0412,3.61\n"
    root = b"timestamp,sensor_id,status\n2026-11-01 00:00:00,BH-0412,ok\n"
    at_node = client.post("/api/v1/sensor/diagnostics", data=diagnostics, headers=HEADERS)
    at_root = client.post("/api/v1/sensor", data=root, headers=HEADERS)
    assert at_node.status_code == at_root.status_code == 202
    assert at_node.get_json()["id"] != at_root.get_json()["id"]


def test_an_index_write_that_fails_after_the_item_is_durable_still_answers_202(client, queue_dir):
    client.get("/health")
    (queue_dir / "idempotency" / "tree").write_text("a file where the index folder should be")
    response = client.post("/api/v1/tree", data=TREE_CSV, headers=HEADERS)
    assert response.status_code == 202
    upload_id = response.get_json()["id"]
    assert (queue_dir / "accepted" / "tree" / f"{upload_id}.csv").read_bytes() == TREE_CSV
