"""The operators' HTTP API on a real gunicorn: an operator lists, reads, retries and purges failed
uploads and sees the state of merging; a plain user is refused and learns nothing about ids."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from gateway_helpers import Gunicorn

from shared.queue import Queue
from shared.queue.heartbeat import write_heartbeat
from shared.queue.scheduler_state import SchedulerState

OPERATOR = ("alice", "Al1ce-pw-5x9")
PLAIN = ("test", "test")
BAD_CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,not-a-number\n"


def assert_matches_spec(server: Gunicorn, body: object, schema: dict) -> None:
    """`body` is what the gateway's own OpenAPI document says it is (schemathesis checks the same live)."""
    spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
    OAS30Validator({**schema, "components": spec["components"]}).validate(body)


def failed_upload(queue: Queue, payload: bytes, reason: str) -> str:
    """An upload the worker gave up on, through the queue's own moves (as the worker makes them)."""
    sidecar = queue.enqueue("tree", payload, format="csv", username="test", content_type="text/csv")
    item = queue.claim(queue.find(sidecar.id))
    queue.fail(item, reason, "Traceback: ...")
    return sidecar.id


@pytest.fixture
def gateway(tmp_path: Path):
    server = Gunicorn(tmp_path / "queue", tmp_path, OPERATORS="alice", WEB_CONCURRENCY="1")
    try:
        yield server, Queue(tmp_path / "queue")
    finally:
        server.stop()


def test_operator_lists_reads_retries_and_purges_failed_uploads(gateway):
    server, queue = gateway
    first = failed_upload(queue, BAD_CSV, "row 2, column sap_flow: 'not-a-number' is not a float")
    second = failed_upload(queue, BAD_CSV + b"2026-06-14 06:10:00,oak-01,x\n", "row 3, column sap_flow: 'x'")
    waiting = queue.enqueue("tree", b"timestamp,tree_id,sap_flow\n", format="csv", username="test").id

    listed = requests.get(f"{server.url}/api/v1/failed", params={"endpoint": "tree"}, auth=OPERATOR, timeout=10)
    assert listed.status_code == 200
    assert [(r["id"], r["endpoint"], r["attempts"]) for r in listed.json()] == [(first, "tree", 1), (second, "tree", 1)]
    assert "not-a-number" in listed.json()[0]["error"] and listed.json()[0]["failed_at"]
    assert_matches_spec(server, listed.json(), {"type": "array", "items": {"$ref": "#/components/schemas/FailedUpload"}})
    assert [r["id"] for r in requests.get(f"{server.url}/api/v1/failed?limit=1", auth=OPERATOR, timeout=10).json()] == [first]
    unknown = requests.get(f"{server.url}/api/v1/failed?endpoint=nope", auth=OPERATOR, timeout=10)
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]

    payload = requests.get(f"{server.url}/api/v1/uploads/{first}/payload", auth=OPERATOR, timeout=10)
    assert payload.status_code == 200 and payload.content == BAD_CSV
    assert payload.headers["X-Upload-SHA256"] == hashlib.sha256(BAD_CSV).hexdigest()

    fixed = BAD_CSV.replace(b"not-a-number", b"118.2")
    replaced = requests.put(f"{server.url}/api/v1/uploads/{first}/payload", data=fixed, auth=OPERATOR, timeout=10)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["sha256"] == hashlib.sha256(fixed).hexdigest()
    assert replaced.json()["replaced"][0]["sha256"] == hashlib.sha256(BAD_CSV).hexdigest()
    assert_matches_spec(server, replaced.json(), {"$ref": "#/components/schemas/ReplacedPayload"})
    assert queue.find(first).read_payload() == fixed and queue.find(first).state == "failed"
    empty = requests.put(f"{server.url}/api/v1/uploads/{first}/payload", data=b"", auth=OPERATOR, timeout=10)
    assert empty.status_code == 400 and "--data-binary" in empty.json()["error"]

    retried = requests.post(f"{server.url}/api/v1/uploads/{first}/retry", auth=OPERATOR, timeout=10)
    assert retried.status_code == 202 and retried.headers["Location"] == f"/api/v1/uploads/{first}"
    assert queue.find(first).state == "accepted"
    again = requests.post(f"{server.url}/api/v1/uploads/{first}/retry", auth=OPERATOR, timeout=10)
    assert again.status_code == 409 and "only failed" in again.json()["error"]

    late = requests.put(f"{server.url}/api/v1/uploads/{first}/payload", data=fixed, auth=OPERATOR, timeout=10)
    assert late.status_code == 409 and "only failed" in late.json()["error"]
    not_failed = requests.delete(f"{server.url}/api/v1/uploads/{waiting}", auth=OPERATOR, timeout=10)
    assert not_failed.status_code == 409 and queue.find(waiting) is not None
    purged = requests.delete(f"{server.url}/api/v1/uploads/{second}", auth=OPERATOR, timeout=10)
    assert purged.status_code == 200 and purged.json()["state"] == "purged"
    assert queue.find(second) is None
    assert requests.get(f"{server.url}/api/v1/failed", auth=OPERATOR, timeout=10).json() == []


def test_plain_user_is_refused_and_cannot_tell_which_ids_exist(gateway):
    server, queue = gateway
    mine = failed_upload(queue, BAD_CSV, "row 2: bad value")  # sent by this very user
    unknown = "20200101T000000_000000000Z"
    assert requests.get(f"{server.url}/api/v1/failed", auth=PLAIN, timeout=10).status_code == 403
    assert requests.get(f"{server.url}/api/v1/status", auth=PLAIN, timeout=10).status_code == 403
    for method, suffix in [("GET", "/payload"), ("PUT", "/payload"), ("POST", "/retry"), ("DELETE", "")]:
        answers = [
            requests.request(method, f"{server.url}/api/v1/uploads/{upload_id}{suffix}", data=b"a,b\n1,2\n",
                             auth=PLAIN, timeout=10)
            for upload_id in (mine, unknown)
        ]
        assert [a.status_code for a in answers] == [404, 404], method
        assert answers[0].json()["error"].replace(mine, unknown) == answers[1].json()["error"]
    assert requests.get(f"{server.url}/api/v1/failed", timeout=10).status_code == 401
    item = queue.find(mine)
    assert item.state == "failed" and item.read_payload() == BAD_CSV  # nothing was retried or purged


def test_status_shows_worker_lanes_queue_counts_and_scrapers(gateway):
    server, queue = gateway
    failed_upload(queue, BAD_CSV, "row 2: bad value")
    waiting = queue.enqueue("tree", BAD_CSV, format="csv").id

    before = requests.get(f"{server.url}/api/v1/status", auth=OPERATOR, timeout=10).json()
    assert before["worker"]["alive"] is False and before["lanes"] == [] and before["scrapers"] == []

    lane = {"state": "store unreachable", "since": "2026-11-24T02:58:10.000Z", "reason": "s3://bucket timed out"}
    write_heartbeat(queue.root, datetime.now(timezone.utc), lanes={"tree": lane})
    SchedulerState(queue.root).record("weather", "2026-06-14T06:15:00Z", ok=True, fetched=3, failed=0)
    status = requests.get(f"{server.url}/api/v1/status", auth=OPERATOR, timeout=10).json()
    assert status["worker"]["alive"] is True and status["worker"]["heartbeat_age_seconds"] < 15
    assert status["lanes"] == [{"endpoint": "tree", **lane}]
    assert status["queue"]["counts"]["tree"] == {"waiting": 1, "active": 0, "done": 0, "failed": 1}
    assert status["queue"]["oldest_waiting"]["id"] == waiting
    assert [(s["name"], s["last_run"], s["last_ok"]) for s in status["scrapers"]] == [("weather", "2026-06-14T06:15:00Z", True)]
    for body in (before, status):
        assert_matches_spec(server, body, {"$ref": "#/components/schemas/MergingStatus"})
