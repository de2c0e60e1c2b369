"""Real gunicorn, worker and `scheduler --run-now` processes log every line in LOG_FORMAT.

One run per format: authenticated uploads (one good, one the worker fails, one refused for its
columns, one with a wrong password, one to an unknown path), a worker merging into a moto S3
store, a scraper run against a local source (one site missing), a mail server that is down (so
both digests fail to send), then SIGTERM. Every line of every process's output (stdout and stderr) must parse with
the strict logfmt reader of this folder, or as JSON, and none may hold a secret.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from e2e_stack import PYTHON, SECRET, Stack, free_port, wait_until
from local_http import Answer, LocalHTTP, Request
from logfmt_parser import parse_logfmt

pytestmark = [pytest.mark.slow, pytest.mark.s3]

PASSWORD, WRONG_PASSWORD = "Al1ce-pw-5x9", "Al1ce-wr0ng-7"
SMTP_PASSWORD = "smtp-pa55-never-logged"
API_TOKEN = "pull-t0ken-never-logged"
QUERY_SECRET = "qu3ry-t0ken-never-logged"
TREE_CSV = "timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,118.2\n"
BAD_VALUE_CSV = "timestamp,tree_id,sap_flow\n2026-06-14 07:00:00,oak-01,lots\n"
UNKNOWN_COLUMN_CSV = "timestamp,tree_id,sap_flow_typo\n2026-06-14 07:00:00,oak-01,1.5\n"
FIXED = ("ts", "level", "logger", "event")

PULLED_SCHEMA = """\
ATTRS: {{s3_url: "{s3}", store_path: zarr-fuse-ingress/pulled.zarr}}
COORDS:
  time: {{unit: {{tick: s, tz: UTC}}, df_col: timestamp}}
  tree_id: {{type: str, sorted: false}}
VARS:
  sap_flow: {{coords: [time, tree_id], unit: g/h}}
"""
CONFIG = """\
configuration:
  smtp: {{host: 127.0.0.1, port: {smtp_port}, notify_to: [ops@example.org], from_email: ingress@example.org,
         username: mailer}}
endpoints:
  - {{name: tree, endpoint: /api/v1/tree, schema_path: tree_schema_v1.yaml}}
active_scrappers:
  - name: pull
    schema_path: pulled.yaml
    cron: "0 0 1 1 *"
    request: {{url: "http://127.0.0.1:{source_port}/rows?tree={{tree}}&token={{token}}"}}
    render: [{{name: token, source: const, value: {token}}}]
    iterate: [{{name: tree, source: list, values: [oak-01, nowhere]}}]
"""


class Source:
    """A pull source on 127.0.0.1: JSON rows for oak-01, 404 for any other tree."""

    def __init__(self) -> None:
        self.http = LocalHTTP(self._answer)
        self.port = self.http.port

    @staticmethod
    def _answer(request: Request) -> Answer:
        if "tree=oak-01&" not in request.path:
            return Answer(404, b"no such tree", {"Content-Type": "text/plain"})
        rows = [{"timestamp": "2026-06-14T06:00:00Z", "tree_id": "oak-01", "sap_flow": 9.5}]
        return Answer(200, json.dumps(rows).encode(), {"Content-Type": "application/json"})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def source() -> Iterator[Source]:
    server = Source()
    yield server
    server.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def read_lines(text: str, log_format: str, process: str) -> list[dict]:
    """Every line of a process's output, read strictly; a line that does not parse fails the test."""
    read: Callable[[str], dict] = parse_logfmt if log_format == "logfmt" else json.loads
    records = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        try:
            record = read(line)
        except ValueError as error:
            raise AssertionError(f"{process} line {number} is not {log_format}: {error}\n{line}") from None
        assert list(record)[:4] == list(FIXED), f"{process} line {number}: {line}"
        records.append(record)
    return records


def events(records: list[dict], event: str, **expected: str) -> list[dict]:
    return [r for r in records if r["event"] == event and all(str(r.get(k)) == v for k, v in expected.items())]


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_every_line_of_gateway_worker_and_scheduler_is_one_event_in_log_format_without_secrets(
        tmp_path: Path, moto, source, log_format):
    stack = Stack(tmp_path / "stack", stores={"tree": moto.url}, s3_endpoint_url=moto.url, extra_env={
        "LOG_FORMAT": log_format, "AUTH_ENABLED": "true", "MIN_FREE_BYTES": "0",
        "BASIC_AUTH_USERS_JSON": json.dumps({"alice": PASSWORD}), "SMTP_PASSWORD": SMTP_PASSWORD,
        "SCHEDULER_BACKOFF_SECONDS": "0.1", "SCHEDULER_ATTEMPTS": "1",
    })
    (stack.config.parent / "pulled.yaml").write_text(PULLED_SCHEMA.format(s3=moto.url))
    stack.config.write_text(CONFIG.format(smtp_port=free_port(), source_port=source.port, token=API_TOKEN))
    try:
        # Started side by side (their imports are most of the time); the scraper's run is its own.
        worker = stack.start_worker()
        scheduler = stack.start("scheduler", [PYTHON, "-m", "scheduler", "--run-now", "pull"])
        gateway = stack.start_gateway(workers=1)
        alice = basic("alice", PASSWORD)
        csv = {"Content-Type": "text/csv"}
        url = f"{stack.gateway_url}/api/v1/tree"
        good = requests.post(f"{url}?token={QUERY_SECRET}", data=TREE_CSV, headers={**alice, **csv}, timeout=30)
        bad_value = requests.post(url, data=BAD_VALUE_CSV, headers={**alice, **csv}, timeout=30)
        unknown_column = requests.post(url, data=UNKNOWN_COLUMN_CSV, headers={**alice, **csv}, timeout=30)
        wrong_password = requests.post(url, data=TREE_CSV, headers={**basic("alice", WRONG_PASSWORD), **csv},
                                       timeout=30)
        nowhere = requests.get(f"{stack.gateway_url}/api/v1/nowhere", headers=alice, timeout=30)
        assert (good.status_code, bad_value.status_code, unknown_column.status_code, wrong_password.status_code,
                nowhere.status_code) == (202, 202, 400, 401, 404)
        good_id, failing_id = good.json()["id"], bad_value.json()["id"]
        assert scheduler.popen.wait(120) == 1, scheduler.log()[-3000:]  # the missing tree: a failed context
        wait_until(lambda: (stack.count("done", "tree"), stack.count("failed"), stack.count("done", "pull")) == (1, 1, 1),
                   120, f"merged and failed:\n{worker.log()[-3000:]}", interval=0.25)
        assert worker.stop() == 0 and gateway.stop() == 0
        outputs = {name: process.log() for name, process in
                   (("gateway", gateway), ("worker", worker), ("scheduler", scheduler))}
    finally:
        stack.close()

    lines = {name: read_lines(text, log_format, name) for name, text in outputs.items()}
    gateway_lines, worker_lines, scheduler_lines = lines["gateway"], lines["worker"], lines["scheduler"]

    (accepted,) = events(gateway_lines, "accepted", upload_id=good_id)
    assert (accepted["endpoint"], accepted["user"], str(accepted["status"])) == ("tree", "alice", "202")
    assert events(worker_lines, "merged", upload_id=good_id, endpoint="tree")
    assert events(worker_lines, "failed", upload_id=failing_id, endpoint="tree")

    (refused,) = events(gateway_lines, "rejected", status="400")
    assert refused["reason"] == unknown_column.json()["error"] and "sap_flow_typo" in refused["reason"]
    assert (refused["endpoint"], refused["user"]) == ("tree", "alice")
    (unauthorized,) = events(gateway_lines, "rejected", status="401")
    assert unauthorized["reason"] == wrong_password.json()["error"] and "user" not in unauthorized
    (unknown,) = events(gateway_lines, "rejected", status="404")
    assert unknown["reason"] == nowhere.json()["error"] and unknown["path"] == "/api/v1/nowhere"

    (access,) = events(gateway_lines, "request", method="POST", status="202", user="alice", path="/api/v1/tree")[:1]
    assert access["logger"] == "gunicorn.access" and access["remote_addr"] == "127.0.0.1"
    assert int(access["bytes"]) > 0 and float(access["duration_ms"]) >= 0
    assert events(gateway_lines, "request", method="POST", status="401")[0].get("user") is None
    assert any(r["logger"] == "gunicorn.error" for r in gateway_lines)  # the master's lines too

    assert events(scheduler_lines, "accepted", endpoint="pull", scraper="pull")
    (fetch_failed,) = events(scheduler_lines, "fetch_failed", scraper="pull")
    assert "404" in fetch_failed["reason"]
    # Mail is down: both digests fail, and say so on one line each, redacted.
    assert events(scheduler_lines, "notify_failed", channel="smtp")
    assert events(worker_lines, "notify_failed", channel="smtp")

    everything = "\n".join(outputs.values())
    credentials = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, WRONG_PASSWORD, SECRET, SMTP_PASSWORD, API_TOKEN, QUERY_SECRET, credentials):
        assert secret not in everything


def test_an_invalid_log_format_stops_gateway_worker_and_scheduler_with_one_line_naming_it(tmp_path: Path):
    stack = Stack(tmp_path / "stack", store_root=tmp_path / "stores", extra_env={"LOG_FORMAT": "yaml"})
    try:
        processes = [stack.start(name, [PYTHON, "-m", name]) for name in ("gateway", "worker", "scheduler")]
        for process in processes:
            assert process.popen.wait(120) == 2, process.log()[-3000:]
            (line,) = process.log().splitlines()
            assert line == f"zarr-ingress {process.name}: LOG_FORMAT: 'yaml' is not one of LOGFMT, JSON"
    finally:
        stack.close()
