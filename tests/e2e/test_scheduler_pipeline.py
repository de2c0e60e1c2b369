"""Pull sources end to end: `zarr-ingress scheduler --run-now` fetches a local forecast server's
sites into the queue, a real worker merges them, and the store reads back with plain xarray.

The forecast server on 127.0.0.1 answers one site 429 (Retry-After: 1), then 503, then the
data, and another site 404: the first is retried as the headers say, the second is not retried,
and the one failure digest reaches a real webhook receiver naming the context and the reason,
with no secret in it.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from e2e_stack import PYTHON, REPO, Process, open_local_dataset, wait_until
from local_http import Answer, LocalHTTP, Request

API_TOKEN = "yr-t0ken-never-shown"
SITES = {"lysina": 11.5, "bukov": 14.25, "nowhere": None}

SCHEMA = """\
ATTRS:
  description: forecast air temperature per site
  STORE_URL: {store}
COORDS:
  time:
    unit: {{tick: s, tz: UTC}}
    df_col: timestamp
  site:
    type: str
    sorted: false
VARS:
  air_temperature:
    coords: [time, site]
    unit: degC
"""

CONFIG = """\
endpoints:
  - {{name: weather, endpoint: /api/v1/weather, schema_path: schemas/forecast.yaml}}
active_scrappers:
  - name: yr
    schema_path: schemas/forecast.yaml
    runs: [{{cron: "15 */6 * * *"}}]
    request:
      url: "http://127.0.0.1:{port}/forecast?site={{site}}&apikey={{token}}"
      headers: [{{header_name: User-Agent, header_value: "ingress-test/1.0 ops@example.org"}}]
      timeout: 10
    render:
      - {{name: token, source: const, value: {token}}}
    iterate:
      - {{name: site, source: dataframe, dataframe_path: sites.csv, outputs: {{site_lat: lat}}}}
"""


class ForecastServer:
    """Forecast-like JSON per site, a scripted sequence of failures, and a webhook receiver."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, dict[str, str]]] = []  # (monotonic time, site, headers)
        self.hooks: list[dict] = []
        self.script = {"bukov": [(429, {"Retry-After": "1"}), (503, {})]}
        self.http = LocalHTTP(self._answer)
        self.port = self.http.port

    def _answer(self, request: Request) -> Answer:
        if request.method == "POST":
            self.hooks.append(json.loads(request.body))
            return Answer(200, b"ok")
        site = parse_qs(urlsplit(request.path).query).get("site", [""])[0]
        self.requests.append((time.monotonic(), site, request.headers))
        steps = self.script.get(site)
        if steps:
            status, headers = steps.pop(0)
            return Answer(status, b"busy", headers)
        if SITES.get(site) is None:
            return Answer(404, b"no such site")
        body = json.dumps([{"timestamp": f"2026-06-14T{hour:02d}:00:00Z", "site": site,
                            "air_temperature": SITES[site] + hour} for hour in range(3)]).encode()
        return Answer(200, body, {"Content-Type": "application/json"})

    def times(self, site: str) -> list[float]:
        return [at for at, requested, _ in self.requests if requested == site]

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def forecast() -> ForecastServer:
    server = ForecastServer()
    yield server
    server.close()


def test_run_now_pulls_every_site_retries_as_told_and_the_worker_merges_them(tmp_path: Path, forecast) -> None:
    config_dir, queue_dir, store = tmp_path / "config", tmp_path / "queue", tmp_path / "stores" / "forecast.zarr"
    (config_dir / "schemas").mkdir(parents=True)
    (config_dir / "schemas" / "forecast.yaml").write_text(SCHEMA.format(store=store))
    (config_dir / "sites.csv").write_text("site,lat\nlysina,50.05\nbukov,49.45\nnowhere,0\n")
    (config_dir / "endpoints_config.yaml").write_text(CONFIG.format(port=forecast.port, token=API_TOKEN))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "QUEUE_DIR": str(queue_dir),
           "ENDPOINTS_CONFIG": str(config_dir / "endpoints_config.yaml"), "AUTH_ENABLED": "false",
           "NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{forecast.port}/hook", "SCHEDULER_BACKOFF_SECONDS": "0.2",
           "WORKER_POLL_SECONDS": "0.5", "WORKER_METRICS_PORT": "0", "LOG_LEVEL": "INFO"}

    scheduler = subprocess.run([PYTHON, "-m", "scheduler", "--run-now", "yr"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=120)

    assert scheduler.returncode == 1, scheduler.stderr[-3000:]
    assert len(forecast.times("lysina")) == 1 and len(forecast.times("nowhere")) == 1  # a 404 is not retried
    first, second, third = forecast.times("bukov")  # 429, 503, then the data
    assert second - first >= 1.0  # Retry-After: 1 honoured
    assert all(h["User-Agent"] == "ingress-test/1.0 ops@example.org" for _, _, h in forecast.requests)
    (hook,) = forecast.hooks  # one digest at exit, not one message per failure
    assert "scraper yr" in hook["text"] and "site=nowhere" in hook["text"] and "HTTP 404" in hook["text"]
    assert "1 of 3 contexts" in hook["text"] and "lysina" not in hook["text"]
    assert API_TOKEN not in hook["text"] and API_TOKEN not in scheduler.stderr

    sidecars = [json.loads(p.read_text()) for p in sorted((queue_dir / "accepted" / "yr").glob("*.meta.json"))]
    assert [s["context"]["site"] for s in sidecars] == ["lysina", "bukov"]  # context order
    for sidecar in sidecars:
        assert (sidecar["username"], sidecar["scraper"], sidecar["format"]) == ("scraper-yr", "yr", "json")
        assert sidecar["dataframe_row"] == sidecar["context"] and "site_lat" in sidecar["context"]
        assert sidecar["url"].endswith(f"site={sidecar['context']['site']}&apikey=***")
        assert API_TOKEN not in json.dumps(sidecar)
    status = subprocess.run([PYTHON, "-m", "worker.queue_cli", "status", "--json"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    state = json.loads(status.stdout)["scrapers"]["yr"]
    assert (state["last_ok"], state["fetched"], state["failed"]) == (False, 2, 1)
    assert state["next_run"].endswith(("00:15:00Z", "06:15:00Z", "12:15:00Z", "18:15:00Z"))

    worker = Process("worker", [PYTHON, "-m", "worker"], env, tmp_path, tmp_path)
    try:
        wait_until(lambda: len(list((queue_dir / "done" / "yr").glob("*.meta.json"))) == 2, 120,
                   f"both pulled items merged:\n{worker.log()[-3000:] if not worker.alive() else ''}", interval=0.25)
    finally:
        worker.stop()
        worker.close()
    dataset = open_local_dataset(store)
    temperature = dataset["air_temperature"].to_series().dropna()
    assert temperature.to_dict() == {
        (time_, site): SITES[site] + hour
        for site in ("lysina", "bukov") for hour, time_ in enumerate(dataset["time"].values)
    }


def test_a_missed_run_catches_up_once_at_start_and_a_never_run_scraper_does_not(tmp_path: Path, forecast) -> None:
    from e2e_stack import free_port

    config_dir, queue_dir = tmp_path / "config", tmp_path / "queue"
    (config_dir / "schemas").mkdir(parents=True)
    (config_dir / "schemas" / "forecast.yaml").write_text(SCHEMA.format(store=tmp_path / "store.zarr"))
    (config_dir / "endpoints_config.yaml").write_text(f"""\
endpoints: [{{name: weather, endpoint: /api/v1/weather, schema_path: schemas/forecast.yaml}}]
active_scrappers:
  - {{name: yearly, schema_path: schemas/forecast.yaml, cron: "0 0 1 1 *",
     request: {{url: "http://127.0.0.1:{forecast.port}/forecast?site=lysina"}}}}
  - {{name: fresh, schema_path: schemas/forecast.yaml, cron: "0 0 1 1 *",
     request: {{url: "http://127.0.0.1:{forecast.port}/forecast?site=bukov"}}}}
""")
    (queue_dir / "scheduler").mkdir(parents=True)
    (queue_dir / "scheduler" / "state.json").write_text(json.dumps({"yearly": {"last_run": "2024-06-01T00:00:00Z"}}))
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "QUEUE_DIR": str(queue_dir),
           "ENDPOINTS_CONFIG": str(config_dir / "endpoints_config.yaml"), "AUTH_ENABLED": "false",
           "SCHEDULER_METRICS_PORT": str(port), "SCHEDULER_METRICS_ADDR": "127.0.0.1"}
    scheduler = Process("scheduler", [PYTHON, "-m", "scheduler"], env, tmp_path, tmp_path)
    try:
        wait_until(lambda: list((queue_dir / "accepted" / "yearly").glob("*.meta.json")), 60,
                   "the catch-up run enqueued its item")

        def metrics() -> str:
            import requests

            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.RequestException:
                return ""

        text = wait_until(lambda: 'zarr_ingress_scraper_runs_total{outcome="ok",scraper="yearly"} 1.0' in metrics()
                          and metrics(), 30, "the catch-up run counted")
        assert 'zarr_ingress_scraper_fetches_total{outcome="ok",scraper="yearly"} 1.0' in text
        assert 'zarr_ingress_scraper_last_success_timestamp_seconds{scraper="yearly"}' in text
        time.sleep(1.0)  # a second catch-up or a run of "fresh" would show by now
        assert scheduler.alive() and len(forecast.times("lysina")) == 1 and forecast.times("bukov") == []
        state = json.loads((queue_dir / "scheduler" / "state.json").read_text())
        year = datetime.now(timezone.utc).year
        assert state["yearly"]["last_run"] == f"{year}-01-01T00:00:00Z"  # the latest missed slot only
        assert state["fresh"]["next_run"] == f"{year + 1}-01-01T00:00:00Z" and "last_run" not in state["fresh"]
        assert scheduler.stop() == 0
    finally:
        scheduler.close()


def test_the_worker_reports_failed_uploads_and_a_long_store_outage_in_one_digest(tmp_path: Path, forecast) -> None:
    from e2e_stack import free_port
    from shared.queue import Queue

    config_dir, queue_dir = tmp_path / "config", tmp_path / "queue"
    (config_dir / "schemas").mkdir(parents=True)
    (config_dir / "schemas" / "forecast.yaml").write_text(SCHEMA.format(store=tmp_path / "store.zarr"))
    down = SCHEMA.replace("STORE_URL: {store}", "s3_url: http://127.0.0.1:{port}\n  store_path: bucket/down.zarr")
    (config_dir / "schemas" / "down.yaml").write_text(down.format(port=free_port()))
    (config_dir / "endpoints_config.yaml").write_text(
        "endpoints:\n  - {name: weather, endpoint: /api/v1/weather, schema_path: schemas/forecast.yaml}\n"
        "  - {name: remote, endpoint: /api/v1/remote, schema_path: schemas/down.yaml}\n")
    queue = Queue(queue_dir)
    bad = queue.enqueue("weather", b'[{"timestamp": "2026-06-14T00:00:00Z", "site": "a", "air_temperature": "warm"}]',
                        format="json", username="logger-7")
    queue.enqueue("remote", b'[{"timestamp": "2026-06-14T00:00:00Z", "site": "a", "air_temperature": 1.5}]',
                  format="json", username="logger-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "QUEUE_DIR": str(queue_dir),
           "ENDPOINTS_CONFIG": str(config_dir / "endpoints_config.yaml"), "AUTH_ENABLED": "false",
           "NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{forecast.port}/hook", "NOTIFY_STORE_DOWN_MINUTES": "0.02",
           "S3_ACCESS_KEY": "key-id", "S3_SECRET_KEY": "s3-s3cret-value", "WORKER_POLL_SECONDS": "0.2",
           "WORKER_RETRY_MAX_SECONDS": "0.5", "WORKER_METRICS_PORT": "0", "AWS_MAX_ATTEMPTS": "1"}
    worker = Process("worker", [PYTHON, "-m", "worker"], env, tmp_path, tmp_path)
    try:
        wait_until(lambda: list((queue_dir / "failed" / "weather").glob("*.meta.json")), 60, "the bad upload failed")
        wait_until(lambda: "store_unavailable" in worker.log() and worker.log().count("store_unavailable") >= 3, 90,
                   "the remote store tried a few times")
        time.sleep(1.5)  # past NOTIFY_STORE_DOWN_MINUTES (1.2 s) with one more failed attempt
        wait_until(lambda: worker.log().count("store_unavailable") >= 5, 60, "more attempts past the limit")
        assert forecast.hooks == []  # the digest interval (900 s) has not passed: nothing sent yet
        assert worker.stop() == 0
    finally:
        worker.close()
    (hook,) = forecast.hooks  # pending lines go out once, at stop
    assert f"upload {bad.id} of endpoint weather went to failed/" in hook["text"]
    assert "the store of endpoint remote has been unreachable" in hook["text"]
    assert hook["text"].count("has been unreachable") == 1  # reported once, not at every attempt
    assert "s3-s3cret-value" not in hook["text"]
