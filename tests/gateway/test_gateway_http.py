"""The HTTP contract of the gateway (DESIGN.md section 4), request by request, on a test client."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import time
from datetime import datetime, timezone

import pytest
from werkzeug.security import generate_password_hash

from gateway.app import create_app
from shared.config import ConfigError
from shared.queue.heartbeat import HEARTBEAT_FILE, write_heartbeat
from shared.queue import Queue
from gateway_helpers import AUTH, TEST_DATA, accepted_files, basic, make_settings

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
CSV_HEADERS = {**AUTH, "Content-Type": "text/csv"}


def sidecar_of(queue_dir, endpoint, upload_id) -> dict:
    return json.loads(next((queue_dir / "accepted" / endpoint).glob(f"{upload_id}.*.meta.json")).read_text())


def test_a_csv_upload_is_queued_durably_and_answered_202_with_its_status_url(client, queue_dir, caplog):
    caplog.set_level(logging.INFO, logger="zarr_ingress")
    response = client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "accepted" and body["endpoint"] == "tree" and body["node_path"] == ""
    assert response.headers["Location"] == f"/api/v1/uploads/{body['id']}"
    payload = queue_dir / "accepted" / "tree" / f"{body['id']}.csv"
    assert payload.read_bytes() == TREE_CSV
    sidecar = sidecar_of(queue_dir, "tree", body["id"])
    assert sidecar["sha256"] == hashlib.sha256(TREE_CSV).hexdigest() and sidecar["username"] == "test"
    assert sidecar["format"] == "csv" and sidecar["schema_path"].endswith("tree_schema_v1.yaml")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=accepted")]
    assert lines == [f"event=accepted upload_id={body['id']} endpoint=tree node_path=/ user=test status=202 "
                     f"bytes={len(TREE_CSV)} format=csv"]


def test_an_upload_to_a_node_path_keeps_the_path(client, queue_dir):
    diagnostics = b"timestamp,sensor_id,battery\n2026-11-01 00:00:00,BH-0412,3.61\n"
    response = client.post("/api/v1/sensor/diagnostics", data=diagnostics, headers=CSV_HEADERS)
    assert response.status_code == 202
    assert response.get_json()["node_path"] == "diagnostics"
    assert sidecar_of(queue_dir, "sensor", response.get_json()["id"])["node_path"] == "diagnostics"


def test_a_node_path_that_is_not_a_node_of_the_schema_is_400_naming_the_nodes(client, queue_dir):
    response = client.post("/api/v1/sensor/a/b", data=TREE_CSV, headers=CSV_HEADERS)
    assert response.status_code == 400
    assert response.get_json()["error"] == "node path 'a/b' is not a node of the sensor schema (nodes: '', 'diagnostics')"
    assert accepted_files(queue_dir) == []


def test_missing_required_columns_are_400_naming_them(client, queue_dir):
    response = client.post("/api/v1/tree", data=b"timestamp,sap_flow\n2026-06-14 06:00:00,1.5\n", headers=CSV_HEADERS)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("missing required column(s) tree_id for node '/'")
    assert accepted_files(queue_dir) == []


def test_an_upload_without_any_variable_column_is_400_naming_the_unknown_columns(client, queue_dir):
    body = b"timestamp,tree_id,humidity\n2026-06-14 06:00:00,oak-01,1.5\n"
    response = client.post("/api/v1/tree", data=body, headers=CSV_HEADERS)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "expected at least one of sap_flow, stem_diameter_um" in error and "unknown column(s): humidity" in error
    assert accepted_files(queue_dir) == []


@pytest.mark.parametrize(
    "payload",
    [b'[{"timestamp": "2026-01-01 00:00", "tree_id": "oak", "sap_flow": 1.5}]',
     b'{"timestamp": ["2026-01-01 00:00", "2026-01-01 01:00"], "tree_id": ["a", "b"], "sap_flow": [1, null]}'],
)
def test_json_records_or_columns_are_accepted(client, queue_dir, payload):
    response = client.post("/api/v1/tree", data=payload, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 202
    assert (queue_dir / "accepted" / "tree" / f"{response.get_json()['id']}.json").read_bytes() == payload


def test_multipart_file_field_is_accepted_with_its_file_name(client, queue_dir):
    weather = (TEST_DATA / "weather" / "default.csv").read_bytes()
    response = client.post("/api/v1/weather", data={"file": (io.BytesIO(weather), "station 7.csv")}, headers=AUTH)
    assert response.status_code == 202
    sidecar = sidecar_of(queue_dir, "weather", response.get_json()["id"])
    assert sidecar["filename"] == "station 7.csv" and sidecar["format"] == "csv"
    assert sidecar["sha256"] == hashlib.sha256(weather).hexdigest()


def test_multipart_json_is_told_by_its_extension(client, queue_dir):
    records = b'[{"timestamp": "2026-11-01 00:00:00", "sensor_id": "BH-0412", "status": "ok"}]'
    data = {"file": (io.BytesIO(records), "x.json", "application/octet-stream")}
    response = client.post("/api/v1/sensor", data=data, headers=AUTH)
    assert response.status_code == 202
    assert sidecar_of(queue_dir, "sensor", response.get_json()["id"])["format"] == "json"


def test_gzip_bodies_are_stored_inflated(client, queue_dir):
    headers = {**CSV_HEADERS, "Content-Encoding": "gzip"}
    response = client.post("/api/v1/tree", data=gzip.compress(TREE_CSV), headers=headers)
    assert response.status_code == 202
    assert (queue_dir / "accepted" / "tree" / f"{response.get_json()['id']}.csv").read_bytes() == TREE_CSV


def _gzip_bomb_1gib() -> bytes:
    # 1024 gzip members of 1 MiB of zeros each (a valid gzip file): ~1 MB that inflates to 1 GiB.
    return gzip.compress(b"0" * (1 << 20), compresslevel=9) * 1024


BAD_INPUT = [
    ("empty body", "/api/v1/tree", {"data": b"", "headers": CSV_HEADERS}, 400, "empty"),
    ("multipart without file", "/api/v1/tree",
     {"data": {"upload": (io.BytesIO(TREE_CSV), "t.csv")}, "headers": AUTH}, 400, "without a field 'file'"),
    ("binary file as CSV", "/api/v1/tree",
     {"data": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "headers": CSV_HEADERS}, 400, "binary"),
    ("invalid UTF-8", "/api/v1/tree",
     {"data": b"timestamp,tree_id\n2026-01-01,\xff\xfeoak\n", "headers": CSV_HEADERS}, 400, "not UTF-8"),
    ("JSON number", "/api/v1/tree",
     {"data": b"42", "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "got a number"),
    ("JSON nested object", "/api/v1/tree",
     {"data": b'{"a": {"b": 1}}', "headers": {**AUTH, "Content-Type": "application/json"}}, 400, "column 'a'"),
    ("ragged CSV", "/api/v1/tree",
     {"data": b"a,b,c\n1,2,3\n4,5\n", "headers": CSV_HEADERS}, 400, "CSV line 3: 2 cells, but the header has 3"),
    ("CSV without header row", "/api/v1/tree",
     {"data": b"1,2\n3,4\n", "headers": CSV_HEADERS}, 400, "no header row"),
    ("CSV sent with curl -d (newlines stripped)", "/api/v1/tree",
     {"data": b"timestamp,tree_id,sap_flow2026-06-14 06:00:00,oak-01,118.2", "headers": CSV_HEADERS}, 400,
     "the body is a single line: `curl -d` strips newlines; send it with `--data-binary @file`"),
    ("node path with ..", "/api/v1/tree/a/../b", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "'..' segment"),
    ("node path with %2e%2e", "/api/v1/tree/%2e%2e/b", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "'..' segment"),
    ("node path with leading /", "/api/v1/tree//a", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "starts with '/'"),
    ("node path with backslash", "/api/v1/tree/a\\b", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "character '\\\\'"),
    ("node path with NUL", "/api/v1/tree/a%00b", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "character '\\x00'"),
    ("node path with newline", "/api/v1/tree/a%0Ab", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "character '\\n'"),
    ("node path of 300 segments", "/api/v1/tree/" + "/".join(["a"] * 300),
     {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "node path is longer than 512"),
    ("node path of 40 segments", "/api/v1/tree/" + "/".join(["a"] * 40),
     {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "40 segments, more than 32"),
    ("node path with percent sign", "/api/v1/tree/a%252e", {"data": TREE_CSV, "headers": CSV_HEADERS}, 400, "'%'"),
    ("wrong password", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {**basic("test", "nope"), "Content-Type": "text/csv"}}, 401, "wrong user name or password"),
    ("unknown user", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {**basic("mallory", "test"), "Content-Type": "text/csv"}}, 401, "wrong user name or password"),
    ("no Authorization header", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {"Content-Type": "text/csv"}}, 401, "authentication required"),
    ("unknown endpoint", "/api/v1/forest", {"data": TREE_CSV, "headers": CSV_HEADERS}, 404, "not found"),
    ("unsupported content type", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}}, 415, "text/csv"),
    ("unsupported content encoding", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {**CSV_HEADERS, "Content-Encoding": "br"}}, 415, "Content-Encoding 'br'"),
    ("multipart file of unknown type", "/api/v1/tree",
     {"data": {"file": (io.BytesIO(TREE_CSV), "t.xlsx", "application/octet-stream")}, "headers": AUTH}, 415, "t.xlsx"),
    ("broken gzip", "/api/v1/tree",
     {"data": b"\x1f\x8b\x08\x00garbage", "headers": {**CSV_HEADERS, "Content-Encoding": "gzip"}}, 400, "gzip"),
    ("gzip that inflates to 1 GiB", "/api/v1/tree",
     {"data": _gzip_bomb_1gib(), "headers": {**CSV_HEADERS, "Content-Encoding": "gzip"}}, 413, "inflates to more than"),
    ("bad Idempotency-Key", "/api/v1/tree",
     {"data": TREE_CSV, "headers": {**CSV_HEADERS, "Idempotency-Key": "x" * 300}}, 400, "Idempotency-Key"),
]


@pytest.mark.parametrize("what, path, request_args, status, error", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_its_status_and_json_error_and_nothing_is_queued(client, queue_dir, what, path, request_args, status, error):
    response = client.post(path, **request_args)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert error in body["error"], body["error"]
    assert "trace" in body  # not production
    assert accepted_files(queue_dir) == []
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert "nope" not in response.get_data(as_text=True)


def test_get_on_an_upload_route_is_405(client, queue_dir):
    response = client.get("/api/v1/tree", headers=AUTH)
    assert response.status_code == 405 and "not allowed" in response.get_json()["error"]
    assert "POST" in response.headers["Allow"]


def test_body_over_the_limit_is_413(queue_dir):
    client = create_app(make_settings(queue_dir, MAX_UPLOAD_BYTES="1000")).test_client()
    big = b"a,b\n" + b"1,2\n" * 300
    response = client.post("/api/v1/tree", data=big, headers=CSV_HEADERS)
    assert response.status_code == 413 and "limit of 1000 bytes" in response.get_json()["error"]
    multipart = client.post("/api/v1/tree", data={"file": (io.BytesIO(big), "b.csv")}, headers=AUTH)
    assert multipart.status_code == 413
    bomb = gzip.compress(b"a,b\n" + b"0" * (8 << 20), compresslevel=9)  # ~8 KB of gzip, 8 MiB inflated
    assert len(bomb) < 16_000
    inflated = client.post("/api/v1/tree", data=bomb, headers={**CSV_HEADERS, "Content-Encoding": "gzip"})
    assert inflated.status_code == 413
    assert accepted_files(queue_dir) == []


def test_production_error_bodies_carry_no_trace(queue_dir):
    client = create_app(make_settings(queue_dir, PRODUCTION="true")).test_client()
    response = client.post("/api/v1/tree", data=b"1,2\n", headers=CSV_HEADERS)
    assert response.status_code == 400 and "trace" not in response.get_json()


def test_users_outside_an_endpoints_users_list_get_403(tmp_path, queue_dir):
    config = tmp_path / "endpoints.yaml"
    config.write_text(
        "- {name: tree, endpoint: /api/v1/tree, schema_path: %s, users: [alice]}\n"
        % (TEST_DATA.parent / "schemas" / "tree_schema_v1.yaml")
    )
    client = create_app(make_settings(queue_dir, ENDPOINTS_CONFIG=str(config))).test_client()
    denied = client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    assert denied.status_code == 403 and "'test' may not upload" in denied.get_json()["error"]
    allowed = client.post("/api/v1/tree", data=TREE_CSV, headers={**basic("alice", "Al1ce-pw-5x9"), "Content-Type": "text/csv"})
    assert allowed.status_code == 202
    assert len(accepted_files(queue_dir)) == 2


def test_werkzeug_hashed_passwords_are_accepted(queue_dir):
    users = json.dumps({"logger": generate_password_hash("s3cret-Logger")})
    client = create_app(make_settings(queue_dir, BASIC_AUTH_USERS_JSON=users)).test_client()
    headers = {**basic("logger", "s3cret-Logger"), "Content-Type": "text/csv"}
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=headers).status_code == 202
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=headers).status_code == 202  # remembered
    wrong = {**basic("logger", "s3cret-logger"), "Content-Type": "text/csv"}
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=wrong).status_code == 401


def test_auth_can_be_switched_off(queue_dir):
    client = create_app(make_settings(queue_dir, AUTH_ENABLED="false")).test_client()
    response = client.post("/api/v1/tree", data=TREE_CSV, headers={"Content-Type": "text/csv"})
    assert response.status_code == 202
    assert sidecar_of(queue_dir, "tree", response.get_json()["id"])["username"] is None


def test_passwords_never_reach_sidecars_or_logs(queue_dir, caplog):
    # Every process's output, gunicorn's access lines and S3/SMTP secrets included:
    # tests/logs/test_log_processes.py.
    caplog.set_level(logging.DEBUG)
    client = create_app(make_settings(queue_dir)).test_client()
    headers = {**basic("alice", "Al1ce-pw-5x9"), "Content-Type": "text/csv"}
    assert client.post("/api/v1/tree?token=Al1ce-query", data=TREE_CSV, headers=headers).status_code == 202
    client.post("/api/v1/tree", data=TREE_CSV, headers={**basic("alice", "Al1ce-wrong"), "Content-Type": "text/csv"})
    for path in (queue_dir).rglob("*"):
        if path.is_file():
            assert b"Al1ce" not in path.read_bytes()
    assert "event=rejected status=401" in caplog.text  # the refused login is logged...
    assert "Al1ce" not in caplog.text  # ...without the password it tried


def test_idempotency_key_repeat_answers_the_original_id_and_queues_once(client, queue_dir):
    headers = {**CSV_HEADERS, "Idempotency-Key": "logger-7/2026-11-24T00:00"}
    first = client.post("/api/v1/tree", data=TREE_CSV, headers=headers)
    again = client.post("/api/v1/tree", data=TREE_CSV, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other_user = client.post(
        "/api/v1/tree", data=TREE_CSV,
        headers={**basic("alice", "Al1ce-pw-5x9"), "Content-Type": "text/csv", "Idempotency-Key": headers["Idempotency-Key"]},
    )
    weather = (TEST_DATA / "weather" / "default.csv").read_bytes()
    other_endpoint = client.post("/api/v1/weather", data=weather, headers=headers)
    assert len({first.get_json()["id"], other_user.get_json()["id"], other_endpoint.get_json()["id"]}) == 3
    assert len(accepted_files(queue_dir)) == 6  # three items, payload + sidecar each


def test_a_full_queue_answers_503_with_retry_after(queue_dir):
    client = create_app(make_settings(queue_dir, QUEUE_MAX_ITEMS="2")).test_client()
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 202
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 202
    full = client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    assert full.status_code == 503 and int(full.headers["Retry-After"]) > 0
    assert "queue is full: 2 items waiting" in full.get_json()["error"]
    assert len(accepted_files(queue_dir)) == 4
    assert client.get("/ready").status_code == 503


def test_a_queue_full_on_an_old_count_is_counted_again_before_an_upload_is_refused(queue_dir, monkeypatch):
    import shared.queue as queue_module

    monkeypatch.setattr(queue_module, "DEPTH_SLOW_SECONDS", 0.0)  # counts run in the background
    client = create_app(make_settings(queue_dir, QUEUE_MAX_ITEMS="2")).test_client()
    for _ in range(2):
        assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 202
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 503
    worker_side = Queue(queue_dir)
    for item in worker_side.scan():  # the worker drains the queue
        worker_side.complete(worker_side.claim(item))
    time.sleep(queue_module.DEPTH_CACHE_SECONDS + 0.1)
    # The last count (2, full) is due again: a refusal would rest on it; the upload is accepted.
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 202
    assert client.get("/ready").status_code == 200


def test_low_disk_answers_503_with_retry_after_and_not_ready(queue_dir):
    client = create_app(make_settings(queue_dir, MIN_FREE_BYTES=str(10**18))).test_client()
    response = client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    assert response.status_code == 503 and "disk space low" in response.get_json()["error"]
    assert int(response.headers["Retry-After"]) > 0
    assert accepted_files(queue_dir) == []
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["status"] == "not ready"


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_ready_reports_the_worker_heartbeat_without_refusing_uploads(client, queue_dir):
    assert client.get("/ready").get_json()["worker"]["alive"] is False
    write_heartbeat(queue_dir, datetime.now(timezone.utc))
    worker = client.get("/ready").get_json()["worker"]
    assert worker["alive"] is True and worker["pid"] == os.getpid() and worker["heartbeat_age_seconds"] < 15
    stale = json.loads((queue_dir / HEARTBEAT_FILE).read_text())
    stale["at"] = "2020-01-01T00:00:00.000Z"
    (queue_dir / HEARTBEAT_FILE).write_text(json.dumps(stale))
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["worker"]["alive"] is False


def test_upload_status_follows_the_item_through_the_worker_side_of_the_queue(client, queue_dir):
    ids = [client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).get_json()["id"] for _ in range(2)]
    status = client.get(f"/api/v1/uploads/{ids[0]}", headers=AUTH)
    assert status.status_code == 200 and status.get_json()["state"] == "queued"
    queue = Queue(queue_dir)
    queue.complete(queue.claim(queue.find(ids[0])), rows=12, batch="b-1")
    queue.fail(queue.claim(queue.find(ids[1])), "column sap_flow row 3: 'x' is not a number", "Traceback ...")
    done = client.get(f"/api/v1/uploads/{ids[0]}", headers=AUTH).get_json()
    assert done["state"] == "done" and done["rows"] == 12 and done["merged_at"]
    failed = client.get(f"/api/v1/uploads/{ids[1]}", headers=AUTH).get_json()
    assert failed["state"] == "failed" and "sap_flow row 3" in failed["error"]
    assert client.get("/api/v1/uploads/20990101T000000_000000000Z", headers=AUTH).status_code == 404
    assert client.get("/api/v1/uploads/../../etc/passwd", headers=AUTH).status_code == 404
    assert client.get(f"/api/v1/uploads/{ids[0]}").status_code == 401


def test_metrics_count_uploads_by_status_and_show_queue_depth(client):
    client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    client.post("/api/v1/tree", data=b"", headers=CSV_HEADERS)
    client.post("/api/v1/tree", data=TREE_CSV, headers={"Content-Type": "text/csv"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'zarr_ingress_gateway_uploads_total{endpoint="tree",status="202"} 1.0' in text
    assert 'zarr_ingress_gateway_uploads_total{endpoint="tree",status="400"} 1.0' in text
    assert 'zarr_ingress_gateway_uploads_total{endpoint="tree",status="401"} 1.0' in text
    assert 'zarr_ingress_queue_depth{endpoint="tree"} 1.0' in text
    assert 'zarr_ingress_queue_oldest_age_seconds{endpoint="tree"}' in text


def test_openapi_document_lists_the_configured_upload_routes(client):
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/tree" in spec["paths"] and "/api/v1/tree/{node_path}" in spec["paths"]


def test_an_invalid_schema_stops_app_creation_with_one_line_naming_the_file(tmp_path, queue_dir):
    schema = tmp_path / "broken.yaml"
    schema.write_text("VARS:\n  temperature: {coords: [time], dtype: float32}\n")
    config = tmp_path / "endpoints.yaml"
    config.write_text(f"- {{name: tree, endpoint: /api/v1/tree, schema_path: {schema}}}\n")
    with pytest.raises(ConfigError) as error:
        create_app(make_settings(queue_dir, ENDPOINTS_CONFIG=str(config)))
    assert str(schema) in str(error.value) and "dtype" in str(error.value) and "\n" not in str(error.value)


def test_status_queries_are_not_counted_as_uploads(client):
    client.get("/api/v1/uploads/20990101T000000_000000000Z", headers=AUTH)
    client.post("/api/v1/tree", data=TREE_CSV, headers={**AUTH, "Content-Type": "text/csv"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="status"' not in text and 'endpoint="uploads"' not in text
    assert 'zarr_ingress_gateway_uploads_total{endpoint="tree",status="202"} 1.0' in text


def test_a_resend_of_an_accepted_idempotency_key_gets_its_id_even_when_the_queue_is_full(queue_dir):
    client = create_app(make_settings(queue_dir, QUEUE_MAX_ITEMS="1")).test_client()
    headers = {**CSV_HEADERS, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/tree", data=TREE_CSV, headers=headers)
    again = client.post("/api/v1/tree", data=TREE_CSV, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS).status_code == 503


def test_an_unusable_queue_dir_stops_app_creation_with_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError) as error:
        create_app(make_settings(blocker / "queue"))
    assert str(error.value).startswith("QUEUE_DIR: cannot use")
