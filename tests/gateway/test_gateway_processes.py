"""The gateway as it runs in production: a real gunicorn master with two workers, real clients."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from gateway_helpers import USERS_JSON, Gunicorn

from shared.queue import Queue

AUTH = ("test", "test")


def csv_for(client: int, number: int) -> bytes:
    rows = "".join(f"2026-06-14 06:{minute:02d}:00,tree-{client}-{number},{minute}.5\n" for minute in range(10))
    return f"timestamp,tree_id,sap_flow\n{rows}".encode()


def post_stream(url: str, client: int, count: int, results: list, stop: threading.Event | None = None) -> None:
    """One logger: `count` uploads one after another; records (id, sha256) for every 202."""
    with requests.Session() as session:
        for number in range(count):
            if stop is not None and stop.is_set():
                return
            body = csv_for(client, number)
            try:
                response = session.post(
                    f"{url}/api/v1/tree", data=body, auth=AUTH, headers={"Content-Type": "text/csv"}, timeout=10
                )
            except requests.RequestException:
                if stop is not None:
                    return  # the gateway was killed
                raise
            if response.status_code == 202:
                results.append((client, number, response.json()["id"], hashlib.sha256(body).hexdigest()))


def test_500_uploads_from_8_concurrent_clients_are_all_on_disk_unique_and_in_sending_order(gunicorn, tmp_path):
    per_client = [63] * 4 + [62] * 4  # 500 in all
    results: list = []
    threads = [
        threading.Thread(target=post_stream, args=(gunicorn.url, client, count, results))
        for client, count in enumerate(per_client)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 500
    ids = [upload_id for _, _, upload_id, _ in results]
    assert len(set(ids)) == 500
    folder = tmp_path / "queue" / "accepted" / "tree"
    for _, _, upload_id, sha in results:
        assert hashlib.sha256((folder / f"{upload_id}.csv").read_bytes()).hexdigest() == sha
        assert json.loads((folder / f"{upload_id}.csv.meta.json").read_text())["sha256"] == sha
    for client in range(8):
        sent = sorted((number, upload_id) for c, number, upload_id, _ in results if c == client)
        assert [upload_id for _, upload_id in sent] == sorted(upload_id for _, upload_id in sent)
    pids = set(re.findall(r"Booting worker with pid: (\d+)", gunicorn.log.read_text()))
    assert len(pids) == 2


def test_kill_9_of_master_and_workers_mid_stream_leaves_every_202_whole_and_no_half_item(tmp_path):
    queue_dir = tmp_path / "queue"
    acknowledged: list = []
    for round_number in range(2):
        server = Gunicorn(queue_dir, tmp_path)
        stop = threading.Event()
        results: list = []
        threads = [
            threading.Thread(target=post_stream, args=(server.url, 100 * round_number + c, 100_000, results, stop))
            for c in range(6)
        ]
        try:
            for thread in threads:
                thread.start()
            time.sleep(1.0 + 0.5 * round_number)
            server.kill_all()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            server.stop()
        assert len(results) > 20, "the stream was too slow to test anything"
        acknowledged += results

    queue = Queue(queue_dir)
    whole = {item.id: item for item in queue.scan()}
    for item in whole.values():
        assert hashlib.sha256(item.read_payload()).hexdigest() == item.sidecar.sha256
    for _, _, upload_id, sha in acknowledged:
        assert upload_id in whole, f"202 for {upload_id} but the item is not whole in accepted/"
        assert whole[upload_id].sidecar.sha256 == sha
    # Every sidecar in accepted/ has its payload: nothing half-published is visible.
    sidecars = {p.name.split(".")[0] for p in (queue_dir / "accepted" / "tree").glob("*.meta.json")}
    assert sidecars == set(whole)
    # The worker's start-up repair keeps every acknowledged upload where it is.
    queue.recover()
    assert {i.id for i in queue.scan()} >= {upload_id for _, _, upload_id, _ in acknowledged}


def test_metrics_add_up_across_gunicorn_worker_processes(gunicorn):
    def scrape() -> dict[str, float]:
        text = requests.get(gunicorn.url + "/metrics", timeout=5).text
        return {
            m.group(1): float(m.group(2))
            for m in re.finditer(r'^zarr_ingress_gateway_uploads_total\{endpoint="tree",status="(\d+)"\} (\S+)$', text, re.M)
        }

    def send(count: int, auth) -> None:
        for _ in range(count):
            requests.post(
                gunicorn.url + "/api/v1/tree", data=csv_for(0, 0), auth=auth,
                headers={"Content-Type": "text/csv", "Connection": "close"}, timeout=10,
            )

    threads = [threading.Thread(target=send, args=(10, AUTH)) for _ in range(4)]
    threads += [threading.Thread(target=send, args=(5, ("test", "wrong"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    scrapes = [scrape() for _ in range(6)]  # answered by either worker
    for counts in scrapes:
        assert counts.get("202") == 40 and counts.get("401") == 10, counts
    text = requests.get(gunicorn.url + "/metrics", timeout=5).text
    assert 'zarr_ingress_queue_depth{endpoint="tree"} 40.0' in text


def test_concurrent_repeats_of_an_idempotency_key_get_one_id(gunicorn, tmp_path):
    ids: list[str] = []

    def send() -> None:
        response = requests.post(
            gunicorn.url + "/api/v1/tree", data=csv_for(1, 1), auth=AUTH, timeout=10,
            headers={"Content-Type": "text/csv", "Idempotency-Key": "logger-9-batch-17", "Connection": "close"},
        )
        assert response.status_code == 202
        ids.append(response.json()["id"])

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(ids) == 8 and len(set(ids)) == 1
    assert [i.id for i in Queue(tmp_path / "queue").scan()] == ids[:1]


def test_a_bad_endpoints_file_stops_the_gateway_with_one_line_and_no_traceback(tmp_path):
    config = tmp_path / "endpoints.yaml"
    (tmp_path / "s.yaml").write_text("VARS: {}\n")
    config.write_text(
        "- {name: tree, endpoint: /api/v1/tree, schema_path: s.yaml}\n- {name: tree, endpoint: /api/v1/x, schema_path: s.yaml}\n"
    )
    env = {**os.environ, "ENDPOINTS_CONFIG": str(config), "BASIC_AUTH_USERS_JSON": USERS_JSON, "QUEUE_DIR": str(tmp_path / "q")}
    result = subprocess.run(
        [sys.executable, "-m", "shared.cli", "gateway"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert str(config) in lines[0] and "[1] (tree).name: duplicate endpoint name 'tree'" in lines[0]


def test_zarr_ingress_without_a_known_command_prints_usage(tmp_path):
    result = subprocess.run([sys.executable, "-m", "shared.cli", "launch"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown command 'launch'" in result.stderr and "gateway" in result.stderr
    assert Path(sys.executable).exists()


def test_bad_settings_stop_the_gateway_with_one_line_naming_the_variable(tmp_path):
    cases = {
        "WEB_CONCURRENCY": ({"WEB_CONCURRENCY": "two", "BASIC_AUTH_USERS_JSON": USERS_JSON}, "WEB_CONCURRENCY: 'two'"),
        "no users": ({"BASIC_AUTH_USERS_JSON": ""}, "BASIC_AUTH_USERS_JSON: no users defined"),
        "PORT": ({"PORT": "http", "BASIC_AUTH_USERS_JSON": USERS_JSON}, "PORT: 'http' is not a whole number"),
    }
    for name, (extra, expected) in cases.items():
        env = {**os.environ, "QUEUE_DIR": str(tmp_path / "q"), **extra}
        result = subprocess.run(
            [sys.executable, "-m", "gateway"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, name
        assert result.stderr.strip().count("\n") == 0 and expected in result.stderr, (name, result.stderr)


def test_csv_file_sent_with_curl_d_is_refused_with_the_flag_to_use_instead(gunicorn, tmp_path):
    logger_file = tmp_path / "tree.csv"
    logger_file.write_bytes(b"timestamp,tree_id,sap_flow\r\n2026-06-14 06:00:00,oak-01,118.2\r\n")
    answer = subprocess.run(
        ["curl", "-s", "-u", "test:test", "-H", "Content-Type: text/csv", "-d", f"@{logger_file}",
         f"{gunicorn.url}/api/v1/tree"], capture_output=True, timeout=30, check=True,
    )
    body = json.loads(answer.stdout)
    assert "`curl -d` strips newlines; send it with `--data-binary @file`" in body["error"]
    accepted = subprocess.run(
        ["curl", "-s", "-u", "test:test", "-H", "Content-Type: text/csv", "--data-binary", f"@{logger_file}",
         f"{gunicorn.url}/api/v1/tree"], capture_output=True, timeout=30, check=True,
    )
    assert json.loads(accepted.stdout)["status"] == "accepted"
