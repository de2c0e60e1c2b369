"""Pull sources end to end, the binary and the mail paths: `zarr-ingress scheduler --run-now`
fetches GRIB2 files per forecast hour from a model server on 127.0.0.1 and a real worker merges
them into their store; a run with a failing context sends one digest to a real SMTP server
(aiosmtpd, STARTTLS with a verified certificate, login) naming the context and the reason, with
neither the API token of the URL nor the SMTP password in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from email import message_from_bytes
from pathlib import Path

import numpy as np
import pytest

from e2e_stack import PYTHON, REPO, Process, open_local_dataset, wait_until
from local_http import Answer, LocalHTTP, Request

sys.path.insert(0, str(REPO / "tests" / "migrate"))
sys.path.insert(0, str(REPO / "tests" / "notify"))
from local_mail import smtp_server  # noqa: E402
from migrate_stack import grib2_field  # noqa: E402

FORECAST_SCHEMA = """\
ATTRS: {{STORE_URL: {store}}}
COORDS:
  time: {{unit: {{tick: s, tz: UTC}}, df_col: valid_time, chunk_size: 16}}
  lat: {{unit: deg, df_col: latitude, chunk_size: 16}}
  lon: {{unit: deg, df_col: longitude, chunk_size: 16}}
VARS:
  temperature: {{coords: [time, lat, lon], unit: degC, source_unit: K, df_col: t2m}}
"""
# The model server's field per forecast hour, in K: hour 8 is 0..5 degC, hour 9 ten degrees more.
FIELD_K = 273.15 + np.arange(6, dtype=float).reshape(2, 3)
HOURS = {"0800": FIELD_K, "0900": FIELD_K + 10}


class FileServer:
    """Answers GET of the paths it was given (status, content type, body); 404 for any other."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, str, bytes]] = {}
        self.paths: list[str] = []
        self.http = LocalHTTP(self._answer)
        self.port = self.http.port

    def _answer(self, request: Request) -> Answer:
        self.paths.append(request.path)
        status, content_type, body = self.files.get(request.path.split("?")[0], (404, "text/plain", b"not found"))
        return Answer(status, body, {"Content-Type": content_type})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def files() -> FileServer:
    server = FileServer()
    yield server
    server.close()


def config_folder(tmp_path: Path, store: Path, scraper: str, configuration: str = "") -> Path:
    """The endpoints file (one endpoint and `scraper`, the model schema) in its folder; its path."""
    config = tmp_path / "config"
    (config / "schemas").mkdir(parents=True)
    (config / "schemas" / "model.yaml").write_text(FORECAST_SCHEMA.format(store=store))
    (config / "endpoints_config.yaml").write_text(
        configuration + "endpoints:\n  - {name: forecast, endpoint: /api/v1/forecast, schema_path: schemas/model.yaml}\n"
        "active_scrappers:\n" + scraper)
    return config / "endpoints_config.yaml"


def environment(tmp_path: Path, config: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "QUEUE_DIR": str(tmp_path / "queue"),
            "ENDPOINTS_CONFIG": str(config), "AUTH_ENABLED": "false", "WORKER_POLL_SECONDS": "0.3",
            "WORKER_METRICS_PORT": "0", "SCHEDULER_BACKOFF_SECONDS": "0.1", "LOG_LEVEL": "INFO", **extra}


def test_run_now_pulls_grib2_files_and_the_worker_merges_them_into_the_store(tmp_path: Path, files) -> None:
    store = tmp_path / "stores" / "model.zarr"
    config = config_folder(tmp_path, store, f"""\
  - name: model
    schema_path: schemas/model.yaml
    cron: "5 */3 * * *"
    request: {{url: "http://127.0.0.1:{files.port}/model/{{date}}/t2m_{{hour}}.grib2"}}
    render: [{{name: date, source: datetime_utc, format: "%Y%m%d"}}]
    iterate: [{{name: hour, source: list, values: ["0800", "0900"]}}]
""")
    # The run renders its date at the moment it starts: serve the files under today's date and
    # tomorrow's, so a run started a moment before midnight UTC finds them as well.
    today = datetime.now(timezone.utc)
    dates = {today.strftime("%Y%m%d"), datetime.fromtimestamp(today.timestamp() + 120, timezone.utc).strftime("%Y%m%d")}
    for date in dates:
        for hour, field in HOURS.items():
            body = grib2_field(field, date=int(date), time=int(hour))
            files.files[f"/model/{date}/t2m_{hour}.grib2"] = (200, "application/octet-stream", body)
    env = environment(tmp_path, config)

    pulled = subprocess.run([PYTHON, "-m", "scheduler", "--run-now", "model"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)

    assert pulled.returncode == 0, pulled.stderr[-3000:]
    sidecars = [json.loads(p.read_text()) for p in sorted((tmp_path / "queue" / "accepted" / "model").glob("*.meta.json"))]
    assert [(s["format"], s["filename"], s["context"]["hour"]) for s in sidecars] == \
        [("grib", "t2m_0800.grib2", "0800"), ("grib", "t2m_0900.grib2", "0900")]
    date = sidecars[0]["context"]["date"]

    worker = Process("worker", [PYTHON, "-m", "worker"], env, tmp_path, tmp_path)
    try:
        wait_until(lambda: len(list((tmp_path / "queue" / "done" / "model").glob("*.meta.json"))) == 2, 120,
                   f"both GRIB files merged:\n{worker.log()[-3000:]}", interval=0.25)
    finally:
        worker.stop()
        worker.close()
    dataset = open_local_dataset(store)
    assert dataset.sizes == {"time": 2, "lat": 2, "lon": 3}
    assert [str(t)[:19] for t in dataset["time"].values] == [f"{date[:4]}-{date[4:6]}-{date[6:]}T08:00:00",
                                                             f"{date[:4]}-{date[4:6]}-{date[6:]}T09:00:00"]
    np.testing.assert_allclose(dataset["lat"].values, [49.5, 50.0])  # a sorted coordinate; the file runs north to south
    np.testing.assert_allclose(dataset["lon"].values, [14.0, 14.5, 15.0])
    # The file's grid: row j at latitude 50 - 0.5 j, column i at longitude 14 + 0.5 i; K into the schema's degC.
    as_filed = dataset["temperature"].sel(lat=[50.0, 49.5], lon=[14.0, 14.5, 15.0]).values
    np.testing.assert_allclose(as_filed, np.stack([FIELD_K - 273.15, FIELD_K + 10 - 273.15]), atol=1e-3)


API_TOKEN = "vendor-t0ken-never-mailed"
SMTP_PASSWORD = "smtp-pa55word-never-mailed"


def test_a_failed_run_mails_one_digest_over_starttls_with_the_reasons_and_no_secret(tmp_path: Path, files) -> None:
    files.files["/station/lysina"] = (200, "application/json", b'[{"valid_time": "2026-06-14T00:00:00Z"}]')
    with smtp_server(tmp_path, SMTP_PASSWORD) as (port, inbox, cert):
        config = config_folder(tmp_path, tmp_path / "store.zarr", f"""\
  - name: stations
    schema_path: schemas/model.yaml
    cron: "0 * * * *"
    request: {{url: "http://127.0.0.1:{files.port}/station/{{site}}?token={{token}}"}}
    render: [{{name: token, source: const, value: {API_TOKEN}}}]
    iterate: [{{name: site, source: list, values: [lysina, closed-down, lysina]}}]
""", configuration=f"""\
configuration:
  smtp: {{host: 127.0.0.1, port: {port}, username: ingress, from_email: ingress@example.org,
         notify_to: "ops@example.org"}}
""")
        # The certificate of the test's server is the trust store (SSL_CERT_FILE), as a private CA would be.
        env = environment(tmp_path, config, SMTP_PASSWORD=SMTP_PASSWORD,
                          SSL_CERT_FILE=str(cert))

        pulled = subprocess.run([PYTHON, "-m", "scheduler", "--run-now", "stations"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)

    assert pulled.returncode == 1, pulled.stderr[-3000:]
    assert len(files.paths) == 3 and all(f"token={API_TOKEN}" in path for path in files.paths)
    assert inbox.logins == [("ingress", SMTP_PASSWORD)]  # logged in, over STARTTLS (the server requires it)
    (message,) = inbox.messages  # one digest for the run, sent as the process stops
    mail = message_from_bytes(message)
    assert (mail["From"], mail["To"]) == ("ingress@example.org", "ops@example.org")
    text = mail.get_payload(decode=True).decode()
    assert "scraper stations: run of " in text and "failed for 1 of 3 contexts" in text
    assert "site=closed-down" in text and "HTTP 404" in text and "/station/closed-down?token=***" in text
    assert "site=lysina" not in text  # only the failed context is named
    for secret in (API_TOKEN, SMTP_PASSWORD):
        assert secret not in message.decode(errors="replace") and secret not in pulled.stderr
