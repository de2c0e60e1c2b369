"""Who may read what: upload status per user and OPERATORS, equal-cost refusals, `trace`, PUBLIC_DOCS."""

from __future__ import annotations

import statistics
import time

import pytest
from werkzeug.security import generate_password_hash

from gateway.app import create_app
from gateway_helpers import AUTH, TEST_DATA, basic, make_settings

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
CSV_HEADERS = {**AUTH, "Content-Type": "text/csv"}
USERS = '{"test": "test", "alice": "Al1ce-pw-5x9", "bob": "B0b-pw-77"}'
ALICE, BOB = basic("alice", "Al1ce-pw-5x9"), basic("bob", "B0b-pw-77")


def upload_of_test(client) -> str:
    response = client.post("/api/v1/tree", data=TREE_CSV, headers=CSV_HEADERS)
    assert response.status_code == 202
    return response.get_json()["id"]


def test_an_upload_status_is_404_to_other_users_exactly_like_an_unknown_id(queue_dir):
    client = create_app(make_settings(queue_dir, BASIC_AUTH_USERS_JSON=USERS)).test_client()
    upload_id = upload_of_test(client)
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=AUTH).status_code == 200
    other = client.get(f"/api/v1/uploads/{upload_id}", headers=ALICE)
    unknown = client.get("/api/v1/uploads/20990101T000000_000000000Z", headers=ALICE)
    assert other.status_code == unknown.status_code == 404
    assert upload_id not in str(other.get_json().get("trace")) and "state" not in other.get_json()


def test_operators_read_every_upload_status(queue_dir):
    client = create_app(make_settings(queue_dir, BASIC_AUTH_USERS_JSON=USERS, OPERATORS="alice, carol")).test_client()
    upload_id = upload_of_test(client)
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=ALICE).get_json()["id"] == upload_id
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=BOB).status_code == 404


def _median_seconds(check, attempts: int = 5) -> float:
    seconds = []
    for _ in range(attempts):
        started = time.perf_counter()
        check()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def test_an_unknown_user_costs_what_a_wrong_password_costs_with_hashed_passwords(queue_dir):
    hashed = generate_password_hash("Al1ce-pw-5x9", method="pbkdf2:sha256:200000")
    users = '{"alice": "%s"}' % hashed
    client = create_app(make_settings(queue_dir, BASIC_AUTH_USERS_JSON=users)).test_client()
    wrong = _median_seconds(lambda: client.get("/api/v1/uploads/x", headers=basic("alice", "guess")))
    unknown = _median_seconds(lambda: client.get("/api/v1/uploads/x", headers=basic("mallory", "guess")))
    # Both run one pbkdf2 of 200,000 rounds; without the dummy hash the unknown user is ~1000x cheaper.
    assert unknown > wrong / 2, (unknown, wrong)


@pytest.mark.parametrize(("status", "request_args"), [
    (401, ("post", "/api/v1/tree", {"data": TREE_CSV, "headers": {"Content-Type": "text/csv"}})),
    (403, ("post", "/api/v1/restricted", {"data": b"timestamp,tree_id,sap_flow\n", "headers": CSV_HEADERS})),
    (404, ("get", "/api/v1/uploads/20990101T000000_000000000Z", {"headers": AUTH})),
    (404, ("get", "/no/such/route", {})),
    (405, ("get", "/api/v1/tree", {"headers": AUTH})),
    (413, ("post", "/api/v1/tree", {"data": b"x" * 2048, "headers": CSV_HEADERS})),
    (415, ("post", "/api/v1/tree", {"data": b"timestamp,tree_id,sap_flow\n", "headers": {**AUTH, "Content-Type": "text/html"}})),
])
def test_trace_is_null_on_refusals_no_exception_explains(queue_dir, tmp_path, status, request_args):
    config = tmp_path / "endpoints.yaml"
    schema = TEST_DATA.parent / "schemas" / "tree_schema_v1.yaml"
    config.write_text(f"- {{name: tree, endpoint: /api/v1/tree, schema_path: {schema}}}\n"
                      f"- {{name: restricted, endpoint: /api/v1/restricted, schema_path: {schema}, users: [alice]}}\n")
    settings = make_settings(queue_dir, ENDPOINTS_CONFIG=str(config), MAX_UPLOAD_BYTES="1024")
    method, path, kwargs = request_args
    response = getattr(create_app(settings).test_client(), method)(path, **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] and "trace" in body and body["trace"] is None


@pytest.mark.parametrize("path", ["/metrics", "/openapi.json"])
def test_with_public_docs_false_metrics_and_openapi_need_credentials(queue_dir, path):
    private = create_app(make_settings(queue_dir, PUBLIC_DOCS="false")).test_client()
    assert private.get(path).status_code == 401
    assert private.get(path, headers=basic("test", "nope")).status_code == 401
    assert private.get(path, headers=AUTH).status_code == 200
    assert create_app(make_settings(queue_dir)).test_client().get(path).status_code == 200
