"""The scheduler's runs against a real HTTP server on 127.0.0.1 and a real queue folder:
which run's constants `--run-now` uses, a site list edited while the scheduler runs, and a run
whose items the queue refuses (recorded as a failed run with its reason, shown by `queue status`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from scheduler.__main__ import Scheduler
from scheduler.fetch import RetryPolicy
from scheduler.metrics import SchedulerMetrics
from shared.config import load_settings
from shared.notify import notifier_from

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
SCHEMA = "VARS: {air_temperature: {coords: [time, site], unit: degC}}\nCOORDS: {time: {df_col: timestamp}, site: {type: str}}\n"


@pytest.fixture
def source():
    """Answers every GET with a small JSON body; records each request's query."""
    queries: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's hook name)
            queries.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
            body = b'[{"timestamp": "2026-06-14T00:00:00Z", "site": "a", "air_temperature": 1.5}]'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], queries
    server.shutdown()
    server.server_close()


def config_folder(tmp_path: Path, scrapers: str) -> dict[str, str]:
    """A config folder with one schema and `scrapers` as its active_scrappers; the environment for it."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "forecast.yaml").write_text(SCHEMA)
    (config / "endpoints_config.yaml").write_text(
        "endpoints: [{name: weather, endpoint: /api/v1/weather, schema_path: forecast.yaml}]\n"
        f"active_scrappers:\n{scrapers}")
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "QUEUE_DIR": str(tmp_path / "queue"),
            "ENDPOINTS_CONFIG": str(config / "endpoints_config.yaml"), "AUTH_ENABLED": "false"}


def scheduler_for(env: dict[str, str]) -> Scheduler:
    """The scheduler `zarr-ingress scheduler` builds, in this process (no metrics port, no mail)."""
    settings = load_settings(env, dotenv=None)
    return Scheduler(settings, RetryPolicy(attempts=1, backoff_seconds=0), notifier_from({}, None, process="scheduler"),
                     SchedulerMetrics())


def sidecars(queue_dir: Path, scraper: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((queue_dir / "accepted" / scraper).glob("*.meta.json"))]


CYCLES = """\
  - name: cycles
    schema_path: forecast.yaml
    runs:
      - {{cron: "0 0 1 1 *", set: {{cycle: yearly}}}}
      - {{cron: "* * * * *", set: {{cycle: minutely}}}}
    request: {{url: "http://127.0.0.1:{port}/f?cycle={{cycle}}"}}
"""


def test_run_now_takes_the_run_whose_slot_came_last_or_the_one_given_with_run(tmp_path: Path, source) -> None:
    port, queries = source
    env = config_folder(tmp_path, CYCLES.format(port=port))

    def run_now(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "scheduler", "--run-now", "cycles", *extra], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)

    default = run_now()
    assert default.returncode == 0, default.stderr[-2000:]
    assert queries == [{"cycle": "minutely"}]  # runs[1] fired a minute ago, runs[0] on 1 January
    chosen = run_now("--run", "0")
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert queries[1:] == [{"cycle": "yearly"}]
    assert [s["context"]["cycle"] for s in sidecars(tmp_path / "queue", "cycles")] == ["minutely", "yearly"]
    beyond = run_now("--run", "2")
    assert beyond.returncode == 2 and "--run 2: scrapper 'cycles' has runs[0] to runs[1]" in beyond.stderr
    assert len(queries) == 2  # refused before any fetch


SITES = """\
  - name: sites
    schema_path: forecast.yaml
    cron: "15 */6 * * *"
    request: {{url: "http://127.0.0.1:{port}/f?site={{site}}&lat={{lat}}"}}
    iterate:
      - {{name: site, source: dataframe, dataframe_path: sites.csv, outputs: {{lat: lat}}}}
"""


def test_a_site_list_edited_while_the_scheduler_runs_is_read_again_and_a_broken_edit_is_refused(
    tmp_path: Path, source, caplog: pytest.LogCaptureFixture
) -> None:
    port, queries = source
    env = config_folder(tmp_path, SITES.format(port=port))
    sites = tmp_path / "config" / "sites.csv"
    sites.write_text("site,lat\nlysina,50.05\n")
    scheduler = scheduler_for(env)
    scraper = scheduler.scrapers["sites"]
    when = datetime(2026, 6, 14, 6, 15, tzinfo=timezone.utc)

    assert scheduler.run_once(scraper, scraper.runs[0], when).ok
    sites.write_text("site,lat\nlysina,50.05\nbukov,49.45\n")
    assert scheduler.run_once(scraper, scraper.runs[0], when).ok
    # A run's requests go out 4 at a time, so they arrive in any order: compare them as sets.
    assert queries[0] == {"site": "lysina", "lat": "50.05"}
    assert sorted(q["site"] + "@" + q["lat"] for q in queries[1:]) == ["bukov@49.45", "lysina@50.05"]

    sites.write_text("site,latitude\nstrz,49.1\n")  # the column `outputs:` reads is gone
    assert scheduler.run_once(scraper, scraper.runs[0], when).ok
    assert sorted(q["site"] for q in queries[3:]) == ["bukov", "lysina"]  # the rows in force stay
    refused = [r.getMessage() for r in caplog.records if "dataframe_reload_refused" in r.getMessage()]
    assert len(refused) == 1 and "sites.csv" in refused[0] and "column 'lat' not in" in refused[0]


def test_an_item_the_queue_refuses_fails_the_run_with_its_reason_in_the_state_and_queue_status(
    tmp_path: Path, source
) -> None:
    port, queries = source
    env = config_folder(tmp_path, SITES.format(port=port))
    (tmp_path / "config" / "sites.csv").write_text("site,lat\nlysina,50.05\nbukov,49.45\n")
    scheduler = scheduler_for(env)
    scraper = scheduler.scrapers["sites"]
    # A real broken queue: the scraper's accepted/ folder is a file, so publishing into it fails.
    (tmp_path / "queue" / "accepted").mkdir(parents=True, exist_ok=True)
    (tmp_path / "queue" / "accepted" / "sites").write_text("not a folder")

    result = scheduler.run_once(scraper, scraper.runs[0], datetime(2026, 6, 14, 6, 15, tzinfo=timezone.utc))

    assert result is not None and not result.ok and len(queries) == 2
    (first, first_reason), (second, second_reason) = [(c["site"], r) for c, _, r in result.failures]
    assert (first, second) == ("lysina", "bukov")
    assert first_reason.startswith("not queued: ") and "accepted/sites" in first_reason
    assert second_reason.startswith("not queued: an earlier item of this run was not")
    state = json.loads((tmp_path / "queue" / "scheduler" / "state.json").read_text())["sites"]
    assert (state["last_run"], state["last_ok"], state["fetched"], state["failed"]) == \
        ("2026-06-14T06:15:00Z", False, 0, 2)
    assert state["reason"].startswith("site=lysina, lat=50.05: not queued: ") and "(and 1 more)" in state["reason"]
    status = subprocess.run([PYTHON, "-m", "worker.queue_cli", "status"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    line = next(line for line in status.stdout.splitlines() if line.startswith("sites"))
    assert "2026-06-14T06:15:00Z" in line and "2 failed: site=lysina, lat=50.05: not queued" in line

    os.unlink(tmp_path / "queue" / "accepted" / "sites")  # the queue mended: the next run succeeds
    assert scheduler.run_once(scraper, scraper.runs[0], datetime(2026, 6, 14, 12, 15, tzinfo=timezone.utc)).ok
    state = json.loads((tmp_path / "queue" / "scheduler" / "state.json").read_text())["sites"]
    assert state["last_ok"] is True and "reason" not in state
