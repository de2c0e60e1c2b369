"""Columns the schema does not know are never dropped silently (issue 10, item 2)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from gateway.app import create_app
from gateway.schema_check import _one_edit, near_miss
from shared.config import ConfigError
from gateway_helpers import AUTH, REPO, accepted_files, make_settings

CSV_HEADERS = {**AUTH, "Content-Type": "text/csv"}
TREE_KNOWN = ["timestamp", "tree_id", "sap_flow", "stem_diameter_um", "stem_temperature", "battery"]


def endpoints_file(tmp_path, extra: str = "") -> str:
    config = tmp_path / "endpoints.yaml"
    config.write_text(
        f"- {{name: tree, endpoint: /api/v1/tree, schema_path: {REPO / 'schemas' / 'tree_schema_v1.yaml'}{extra}}}\n"
    )
    return str(config)


def test_a_near_miss_of_a_known_column_is_400_saying_which_was_meant(client, queue_dir):
    body = b"timestamp,tree_id,sap_flw,battery\n2026-06-14 06:00:00,oak-01,1.5,3.6\n"
    response = client.post("/api/v1/tree", data=body, headers=CSV_HEADERS)
    assert response.status_code == 400
    assert response.get_json()["error"] == "column 'sap_flw' is not in the schema of node '/': did you mean 'sap_flow'?"
    assert accepted_files(queue_dir) == []


def test_other_unknown_columns_are_recorded_on_the_item_shown_in_its_status_and_counted(client, queue_dir):
    body = b"timestamp,tree_id,sap_flow,humidity,battery2\n2026-06-14 06:00:00,oak-01,1.5,80,3.6\n"
    response = client.post("/api/v1/tree", data=body, headers=CSV_HEADERS)
    assert response.status_code == 202
    upload_id = response.get_json()["id"]
    sidecar = json.loads(next((queue_dir / "accepted" / "tree").glob(f"{upload_id}.*.meta.json")).read_text())
    assert sidecar["ignored_columns"] == ["humidity", "battery2"]
    status = client.get(f"/api/v1/uploads/{upload_id}", headers=AUTH).get_json()
    assert status["ignored_columns"] == ["humidity", "battery2"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'zarr_ingress_gateway_ignored_columns_total{endpoint="tree"} 2.0' in metrics


def test_an_upload_of_known_columns_only_records_none_ignored(client, queue_dir):
    response = client.post("/api/v1/tree", data=b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,a,1\n", headers=CSV_HEADERS)
    assert client.get(f"/api/v1/uploads/{response.get_json()['id']}", headers=AUTH).get_json()["ignored_columns"] == []


def test_an_endpoint_with_extra_columns_reject_refuses_unknown_columns_naming_them(queue_dir, tmp_path):
    settings = make_settings(queue_dir, ENDPOINTS_CONFIG=endpoints_file(tmp_path, ", extra_columns: reject"))
    client = create_app(settings).test_client()
    body = b"timestamp,tree_id,sap_flow,humidity\n2026-06-14 06:00:00,oak-01,1.5,80\n"
    response = client.post("/api/v1/tree", data=body, headers=CSV_HEADERS)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith("column(s) humidity not in the schema of node '/'") and "extra_columns: reject" in error
    assert accepted_files(queue_dir) == []
    known = b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,1.5\n"
    assert client.post("/api/v1/tree", data=known, headers=CSV_HEADERS).status_code == 202


def test_an_unknown_extra_columns_value_stops_the_configuration_naming_the_key(queue_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"\(tree\)\.extra_columns: 'drop' is not one of ignore, reject"):
        make_settings(queue_dir, ENDPOINTS_CONFIG=endpoints_file(tmp_path, ", extra_columns: drop"))


def test_a_5000_digit_json_integer_is_400_naming_record_and_key_not_500(client, queue_dir):
    payload = b'[{"timestamp": "2026-06-14 06:00:00", "tree_id": "oak", "sap_flow": ' + b"1" * 5000 + b"}]"
    response = client.post("/api/v1/tree", data=payload, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON record 0, key 'sap_flow': the integer" in response.get_json()["error"]
    assert accepted_files(queue_dir) == []


def test_duplicate_json_keys_are_400_naming_the_key(client, queue_dir):
    payload = b'[{"timestamp": "2026-06-14 06:00:00", "tree_id": "oak", "sap_flow": 1, "sap_flow": 900}]'
    response = client.post("/api/v1/tree", data=payload, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "JSON upload rejected: JSON record 0: key 'sap_flow' appears twice"


def test_more_columns_than_max_columns_is_400_naming_the_limit(queue_dir):
    client = create_app(make_settings(queue_dir, MAX_COLUMNS="50")).test_client()
    header = "timestamp,tree_id,sap_flow," + ",".join(f"x{i}" for i in range(48))
    body = f"{header}\n2026-06-14 06:00:00,oak,1{',' * 48}\n".encode()
    response = client.post("/api/v1/tree", data=body, headers=CSV_HEADERS)
    assert response.status_code == 400 and "more than the limit of 50 (MAX_COLUMNS)" in response.get_json()["error"]


@pytest.mark.parametrize(("column", "meant"), [
    ("sap_flw", "sap_flow"), ("Sap-Flow", "sap_flow"), ("sapflow", "sap_flow"), ("batery", "battery"),
    ("tree_ID", "tree_id"), ("stem_temprature", "stem_temperature"), ("sap_folw", "sap_flow"),
    ("humidity", None), ("battery2", None), ("timestamp2", None), ("tim", None),
])
def test_near_misses_are_typos_not_new_sensors(column, meant):
    assert near_miss(column, TREE_KNOWN) == meant


def _osa_distance(a: str, b: str) -> int:
    """The textbook optimal-string-alignment distance (edits and adjacent swaps), as the model."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


names = st.text(alphabet="ab_1", max_size=6)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(names, names)
def test_one_edit_is_exactly_an_alignment_distance_of_one(a, b):
    assert _one_edit(a, b) == (_osa_distance(a, b) == 1)
