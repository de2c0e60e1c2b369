"""Who went silent, with real processes: a gunicorn gateway (two workers), the worker with its
digest going to a real webhook receiver on 127.0.0.1, and `zarr-ingress queue loggers`."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_stack import Stack, open_local_dataset, wait_until  # noqa: E402
from logger_config import USERS, sample, write_config  # noqa: E402

pytestmark = [pytest.mark.slow]
EXPECT_EVERY = 6.0  # seconds: short, so the test sees a silence (the rules are the same for 30m), yet
# well above the gap between two of beech's uploads even on a loaded machine
WAIT = 60  # seconds: a deadline for what must happen, not a speed the test asserts


class Receiver:
    """A webhook endpoint (Slack/Mattermost style) that keeps every digest it is sent."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        received = self.texts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/XXXXtoken"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lines(self, needle: str) -> list[str]:
        return [line for text in list(self.texts) for line in text.splitlines() if needle in line]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


@pytest.fixture
def stack(tmp_path: Path, receiver: Receiver) -> Iterator[Stack]:
    config = write_config(tmp_path / "config", tmp_path / "stores", expect_every=f"{EXPECT_EVERY:g}s")
    running = Stack(tmp_path / "stack", extra_env={
        "ENDPOINTS_CONFIG": str(config), "AUTH_ENABLED": "true", "BASIC_AUTH_USERS_JSON": json.dumps(USERS),
        "NOTIFY_WEBHOOK_URL": receiver.url, "NOTIFY_DIGEST_SECONDS": "1",
    })
    running.stores = tmp_path / "stores"  # type: ignore[attr-defined]
    yield running
    running.close()


def post_toa5(stack: Stack, user: str) -> None:
    # What a CR1000X's HTTPPost sends: TOA5 declared as text/plain.
    response = requests.post(f"{stack.gateway_url}/api/v1/met", data=sample("cr1000x_met10.dat"),
                             headers={"Content-Type": "text/plain"}, auth=(user, USERS[user]), timeout=30)
    assert response.status_code == 202, response.text


def loggers(stack: Stack, *args: str) -> list[dict]:
    done = stack.queue_cli("loggers", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def metrics(stack: Stack) -> str:
    return requests.get(stack.gateway_url + "/metrics", timeout=10).text


def test_a_silent_logger_is_listed_reported_once_and_kept_across_restarts(stack: Stack, receiver: Receiver):
    stack.start_gateway(workers=2)
    worker = stack.start_worker()
    post_toa5(stack, "oak")
    # beech keeps sending (every 0.5 s) while oak stays silent past the endpoint's expect_every
    beech_stop, beech_errors = threading.Event(), []

    def beech_sends() -> None:
        while not beech_stop.wait(0.5):
            try:
                post_toa5(stack, "beech")
            except Exception as error:  # seen by the test below
                beech_errors.append(error)

    beech = threading.Thread(target=beech_sends, daemon=True)
    beech.start()
    time.sleep(EXPECT_EVERY + 1)

    silent = wait_until(lambda: loggers(stack, "--silent-for", f"{EXPECT_EVERY:g}s") or None, WAIT,
                        "oak listed as silent")
    assert [(r["endpoint"], r["logger"], r["rows"]) for r in silent] == [("met", "oak", 3)]
    assert silent[0]["silent_seconds"] >= EXPECT_EVERY and silent[0]["expect_every_seconds"] == EXPECT_EVERY
    everyone = loggers(stack)
    assert [r["logger"] for r in everyone] == ["oak", "beech"]  # the longest silent first
    table = stack.queue_cli("loggers").stdout
    assert table.splitlines()[1].split()[:2] == ["met", "oak"] and silent[0]["last_upload"] in table

    text = metrics(stack)
    assert f'zarr_ingress_logger_last_upload_timestamp_seconds{{endpoint="met",logger="oak"}}' in text
    assert 'zarr_ingress_logger_last_upload_rows{endpoint="met",logger="beech"} 3.0' in text
    assert f'zarr_ingress_logger_expected_interval_seconds{{endpoint="met"}} {EXPECT_EVERY}' in text

    wait_until(lambda: receiver.lines("'oak'"), WAIT, "the digest naming oak")
    time.sleep(4)  # several more silence checks (every 2 s) and digests (every 1 s)
    assert len(receiver.lines("logger 'oak' of endpoint met has sent nothing for")) == 1
    assert receiver.lines("'beech'") == []
    assert "XXXXtoken" not in "".join(receiver.texts)
    beech_stop.set()
    beech.join(60)
    assert beech_errors == []

    # A restarted gateway keeps every record; a restarted worker does not report oak again.
    oak_at = silent[0]["last_upload"]
    gateway = next(p for p in stack.processes if p.name == "gateway")
    assert gateway.stop() == 0
    worker.signal(signal.SIGTERM)
    assert worker.popen.wait(30) == 0
    assert {r["logger"]: r["last_upload"] for r in loggers(stack)}["oak"] == oak_at  # no gateway running
    stack.start_gateway(workers=1)
    stack.start_worker("worker-2")
    post_toa5(stack, "beech")  # the new process adds to the records, it does not start them over
    wait_until(lambda: 'logger="beech"' in metrics(stack) and 'logger="oak"' in metrics(stack), WAIT,
               "both loggers on the restarted gateway's /metrics")
    assert {r["logger"]: r["last_upload"] for r in loggers(stack)}["oak"] == oak_at
    time.sleep(4)  # the restarted worker's first silence checks
    assert len(receiver.lines("logger 'oak' of endpoint met has sent nothing for")) == 1

    # oak's next upload ends its silence: said once, and the data is merged as TOA5.
    post_toa5(stack, "oak")
    wait_until(lambda: receiver.lines("logger 'oak' of endpoint met sends again"), WAIT, "oak back in the digest")
    assert loggers(stack, "--silent-for", "1h") == []
    stack.wait_drained(stack.count("done") + stack.count("accepted"), timeout=120)
    data = open_local_dataset(stack.stores / "met.zarr")  # type: ignore[attr-defined]
    assert list(data.station.values) == ["Hut_Ridge"] and data.battery.size == 3
