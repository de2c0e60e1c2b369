"""Gateway test helpers: settings on a temporary queue, a real gunicorn process."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from shared.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "test_data"
USERS_JSON = '{"test": "test", "alice": "Al1ce-pw-5x9"}'


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = basic("test", "test")


def make_settings(queue_dir: Path, **env: str) -> Settings:
    environ = {"QUEUE_DIR": str(queue_dir), "BASIC_AUTH_USERS_JSON": USERS_JSON, "MIN_FREE_BYTES": "0", **env}
    return load_settings(environ, dotenv=None)



def accepted_files(queue_dir: Path) -> list[Path]:
    folder = queue_dir / "accepted"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`python -m gateway` as a real process group on a free loopback port."""

    def __init__(self, queue_dir: Path, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gateway-{self.port}.log"
        environ = {
            **os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "QUEUE_DIR": str(queue_dir),
            "BASIC_AUTH_USERS_JSON": USERS_JSON, "WEB_CONCURRENCY": "2", "MIN_FREE_BYTES": "0", **env,
        }
        environ["PROMETHEUS_MULTIPROC_DIR"] = str(workdir / f"metrics-{self.port}")  # nothing left in /tmp
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"], cwd=workdir, env=environ, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()  # never leave a gateway running behind a failed test
            raise

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()}")
            try:
                if requests.get(self.url + "/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or workers still booting
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not start: {self.log.read_text()}")

    def kill_all(self) -> None:
        """SIGKILL the master and its workers at once (the whole process group)."""
        with_suppressed(lambda: os.killpg(self.process.pid, signal.SIGKILL))
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            with_suppressed(lambda: os.killpg(self.process.pid, signal.SIGTERM))
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill_all()


def with_suppressed(action) -> None:
    try:
        action()
    except ProcessLookupError:
        pass
