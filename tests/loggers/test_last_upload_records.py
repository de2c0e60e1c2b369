"""The gateway's record of each logger's last upload: who counts as the logger, how many rows,
text/plain for Campbell's HTTPPost, the records shared by concurrent processes."""
from __future__ import annotations

import base64
import json
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from book_writer import merge_many  # noqa: E402
from logger_config import USERS, sample, write_config  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.last_uploads import FLUSH_SECONDS  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.formats import sniff  # noqa: E402
from shared.queue import ACCEPTED, Queue  # noqa: E402
from shared.queue.loggers import LastUpload, LoggerBook  # noqa: E402

EXAMPLES = int(os.environ.get("LOGGER_EXAMPLES", "40"))
PROPERTY = settings(max_examples=EXAMPLES, derandomize="LOGGER_EXAMPLES" not in os.environ, deadline=None)


def auth(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()}


@pytest.fixture
def gateway(tmp_path: Path):
    config = write_config(tmp_path / "config", tmp_path / "stores")
    settings = load_settings({"QUEUE_DIR": str(tmp_path / "queue"), "ENDPOINTS_CONFIG": str(config),
                              "BASIC_AUTH_USERS_JSON": json.dumps(USERS), "MIN_FREE_BYTES": "0"}, dotenv=None)
    app = create_app(settings)
    return app.test_client(), LoggerBook(settings.queue_dir)


def records(book: LoggerBook, timeout: float = 5 * FLUSH_SECONDS + 5) -> dict[tuple[str, str], LastUpload]:
    """The book once the gateway's writer thread has written it (it writes at most once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {(u.endpoint, u.logger): u for u in book.read()}
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_campbell_httppost_toa5_sent_as_text_plain_is_accepted_as_toa5(gateway):
    client, _ = gateway
    response = client.post("/api/v1/met", data=sample("cr1000x_met10.dat"),
                           headers={"Content-Type": "text/plain", **auth("oak")})
    assert response.status_code == 202, response.get_json()
    item = Queue(client.application.extensions["zarr_ingress"]["settings"].queue_dir).find(response.get_json()["id"])
    assert item.state == ACCEPTED and item.sidecar.format == "toa5" and item.sidecar.content_type == "text/plain"


def test_plain_csv_sent_as_text_plain_is_read_as_csv(gateway):
    client, _ = gateway
    response = client.post("/api/v1/plain", data=b"time,level\n2026-12-01T00:00:00Z,1.5\n",
                           headers={"Content-Type": "text/plain; charset=utf-8", **auth("oak")})
    assert response.status_code == 202, response.get_json()
    queue = Queue(client.application.extensions["zarr_ingress"]["settings"].queue_dir)
    assert queue.find(response.get_json()["id"]).sidecar.format == "csv"


def test_a_logger_is_the_user_and_its_record_has_the_rows_of_its_last_upload(gateway):
    client, book = gateway
    before = time.time()
    for user in ("oak", "beech"):
        assert client.post("/api/v1/met", data=sample("cr1000x_met10.dat"),
                           headers={"Content-Type": "text/plain", **auth(user)}).status_code == 202
    assert client.post("/api/v1/plain", data=b"time,level\n2026-12-01T00:00:00Z,1.5\n2026-12-01T00:10:00Z,1.6\n",
                       headers={"Content-Type": "text/csv", **auth("oak")}).status_code == 202
    found = records(book)
    deadline = time.monotonic() + 5
    while len(found) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
        found = records(book)
    assert set(found) == {("met", "oak"), ("met", "beech"), ("plain", "oak")}
    assert found["met", "oak"].rows == 3 and found["plain", "oak"].rows == 2
    assert all(before <= upload.at <= time.time() for upload in found.values())


def test_a_webhook_upload_is_recorded_under_its_device_not_the_network_servers_user(gateway):
    client, book = gateway
    response = client.post("/api/v1/tts", data=sample("tts_uplink.json"),
                           headers={"Content-Type": "application/json", **auth("beech")})
    assert response.status_code == 202, response.get_json()
    assert set(records(book)) == {("tts", "soil-node-07")}
    assert records(book)["tts", "soil-node-07"].rows == 1


def test_rejected_uploads_and_ignored_events_leave_no_record(gateway):
    client, book = gateway
    assert client.post("/api/v1/plain", data=b"time,level\n2026-12-01T00:00:00Z\n",
                       headers={"Content-Type": "text/csv", **auth("oak")}).status_code == 400
    assert client.post("/api/v1/tts", data=sample("tts_join_accept.json"),
                       headers={"Content-Type": "application/json", **auth("oak")}).get_json()["status"] == "ignored"
    time.sleep(2 * FLUSH_SECONDS + 0.5)
    assert book.read() == []


def test_the_metrics_show_each_loggers_last_upload_rows_and_the_expected_interval(gateway):
    client, book = gateway
    assert client.post("/api/v1/met", data=sample("cr1000x_met10.dat"),
                       headers={"Content-Type": "text/plain", **auth("oak")}).status_code == 202
    at = records(book)["met", "oak"].at
    text = client.get("/metrics").get_data(as_text=True)
    shown = re.search(r'^zarr_ingress_logger_last_upload_timestamp_seconds\{endpoint="met",logger="oak"\} (\S+)$',
                      text, re.MULTILINE)
    assert shown is not None and float(shown.group(1)) == at
    assert 'zarr_ingress_logger_last_upload_rows{endpoint="met",logger="oak"} 3.0' in text
    assert 'zarr_ingress_logger_expected_interval_seconds{endpoint="met"} 4.0' in text
    assert 'zarr_ingress_logger_expected_interval_seconds{endpoint="plain"}' not in text


cells = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r"), max_size=8)


@PROPERTY
@given(st.lists(st.lists(cells, min_size=2, max_size=2), min_size=1, max_size=30))
def test_the_row_count_of_a_csv_upload_is_its_records_quoted_newlines_and_all(table):
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["time", "level"])
    writer.writerows(table)
    assert sniff(out.getvalue().encode(), "csv").rows == len(table)  # a quoted newline is no new row


@PROPERTY
@given(st.lists(st.fixed_dictionaries({"time": st.integers(), "level": st.floats(allow_nan=False)}), min_size=1,
                max_size=30), st.booleans())
def test_the_row_count_of_a_json_upload_is_its_records_or_its_column_length(records_, as_columns):
    value = {key: [r[key] for r in records_] for key in ("time", "level")} if as_columns else records_
    assert sniff(json.dumps(value).encode(), "json").rows == len(records_)


def test_concurrent_processes_merging_the_book_lose_no_logger_and_keep_the_latest_upload(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=merge_many, args=(str(tmp_path), w, 60)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    found = {(u.endpoint, u.logger): u for u in LoggerBook(tmp_path).read()}
    assert len(found) == 4 * 60 + 1
    assert found["met", "shared"].at == 1059.0
    LoggerBook(tmp_path).merge([LastUpload("met", "shared", 5.0, 1)])  # an older record never wins
    assert {(u.endpoint, u.logger): u for u in LoggerBook(tmp_path).read()}["met", "shared"].at == 1059.0


def test_a_chirpstack_uplink_names_its_device_eui_as_the_logger():
    assert sniff(sample("chirpstack_up.json"), "chirpstack").device == "0004a30b001c6f52"
    assert sniff(sample("cr1000x_met10.dat"), "toa5").device is None  # a station posts as its user


def test_a_hostile_device_id_is_kept_short_and_shown_escaped(gateway, tmp_path):
    client, book = gateway
    body = json.loads(sample("tts_uplink.json"))
    body["end_device_ids"]["device_id"] = "\x1b[2J" + "x" * 5000
    assert client.post("/api/v1/tts", data=json.dumps(body),
                       headers={"Content-Type": "application/json", **auth("oak")}).status_code == 202
    (logger,) = [key[1] for key in records(book)]
    assert logger == ("\x1b[2J" + "x" * 5000)[:128]
    from worker.loggers_cli import shown

    assert "\x1b" not in shown(logger) and "\\x1b" in shown(logger)
