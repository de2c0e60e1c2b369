"""A changed configuration in a running gateway: `kill -HUP <gunicorn master>` puts the users file
(and the rest) in force at once in new workers; one that does not load is refused and the
gateway goes on as it was, also when a worker has to start meanwhile."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gateway_helpers import TEST_DATA, Gunicorn, basic

pytestmark = pytest.mark.slow

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
CAROL = "users:\n  - name: carol\n    password: C4rol-pw\n"
DAVE = "users:\n  - name: dave1\n    password: D4ve-pw1\n"  # as long as CAROL, on purpose
BAD = "users:\n  - name: carol\n    pasword: Sekrit-typo-pw\n"


def upload_status(gateway: Gunicorn, user: str, password: str) -> int:
    return requests.post(gateway.url + "/api/v1/tree", data=TREE_CSV, timeout=60,
                         headers={"Content-Type": "text/csv", **basic(user, password)}).status_code


def booted_workers(gateway: Gunicorn) -> list[str]:
    return re.findall(r"Booting worker with pid: (\d+)", gateway.log.read_text())


def wait_for_log(gateway: Gunicorn, pattern: str, *, seconds: float = 90) -> re.Match:
    deadline = time.monotonic() + seconds
    while (found := re.search(pattern, gateway.log.read_text())) is None:
        assert gateway.process.poll() is None, f"the gateway exited: {gateway.log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {pattern!r} within {seconds} s"
        time.sleep(0.2)
    return found


def rewrite_keeping_mtime_and_size(path: Path, text: str) -> None:
    """An edit the once-a-second look cannot see (cp -p, rsync -t, an editor that keeps mtime)."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.yaml"
    path.write_text(CAROL, encoding="utf-8")
    return path


@pytest.fixture
def gateway(tmp_path: Path, users_file: Path):
    # One worker: healthy then means every worker has loaded the app, so no worker reads the
    # files the tests change while it starts (that case: the crash test below).
    server = Gunicorn(tmp_path / "queue", tmp_path, USERS_FILE=str(users_file), BASIC_AUTH_USERS_JSON="{}",
                      WEB_CONCURRENCY="1")
    try:
        yield server
    finally:
        server.stop()


def test_sighup_puts_a_new_users_file_in_force_at_once_even_one_the_watch_cannot_see(gateway, users_file):
    assert upload_status(gateway, "carol", "C4rol-pw") == 202
    old_workers = booted_workers(gateway)
    rewrite_keeping_mtime_and_size(users_file, DAVE)
    time.sleep(1.5)  # past the once-a-second look: it saw the same mtime and size
    assert upload_status(gateway, "dave1", "D4ve-pw1") == 401
    os.kill(gateway.process.pid, signal.SIGHUP)
    for pid in old_workers:  # gunicorn stops the old workers once it has forked the new ones
        wait_for_log(gateway, rf"Worker exiting \(pid: {pid}\)")
    assert len(booted_workers(gateway)) == 2 * len(old_workers)
    assert upload_status(gateway, "dave1", "D4ve-pw1") == 202
    assert upload_status(gateway, "carol", "C4rol-pw") == 401


def test_sighup_with_a_users_file_that_does_not_load_keeps_the_gateway_and_its_users(gateway, users_file):
    assert upload_status(gateway, "carol", "C4rol-pw") == 202
    old_workers = booted_workers(gateway)
    users_file.write_text(BAD, encoding="utf-8")
    os.kill(gateway.process.pid, signal.SIGHUP)
    refused = wait_for_log(gateway, r".*event=reload_refused .*")
    assert "users[0] (carol).pasword" in refused.group(0) and "did you mean 'password'" in refused.group(0)
    assert gateway.process.poll() is None and booted_workers(gateway) == old_workers
    assert upload_status(gateway, "carol", "C4rol-pw") == 202
    assert "Sekrit-typo-pw" not in gateway.log.read_text()
    # Fixed, and signalled again: in force.
    users_file.write_text(DAVE, encoding="utf-8")
    os.kill(gateway.process.pid, signal.SIGHUP)
    for pid in old_workers:
        wait_for_log(gateway, rf"Worker exiting \(pid: {pid}\)")
    assert upload_status(gateway, "dave1", "D4ve-pw1") == 202


def test_check_config_checks_as_a_start_does_and_starts_nothing(tmp_path, users_file):
    environ = {**os.environ, "QUEUE_DIR": str(tmp_path / "queue"), "USERS_FILE": str(users_file),
               "BASIC_AUTH_USERS_JSON": "{}"}
    check = [sys.executable, "-m", "gateway", "--check-config"]
    passed = subprocess.run(check, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0 and "Listening" not in passed.stderr, passed.stderr
    users_file.write_text(BAD, encoding="utf-8")
    refused = subprocess.run(check, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"zarr-ingress gateway: USERS_FILE {users_file}: users[0] (carol).pasword: unknown key")
    assert "Sekrit-typo-pw" not in refused.stderr


def test_a_worker_started_while_the_users_file_does_not_load_waits_for_the_fix_and_the_gateway_stays(
        gateway, users_file):
    assert upload_status(gateway, "carol", "C4rol-pw") == 202
    (worker,) = booted_workers(gateway)
    users_file.write_text(BAD, encoding="utf-8")
    os.kill(int(worker), signal.SIGKILL)  # a crash: gunicorn starts a worker, which reads the file
    refused = wait_for_log(gateway, r".*event=worker_boot_refused .*")
    assert "users[0] (carol).pasword" in refused.group(0) and "Sekrit-typo-pw" not in gateway.log.read_text()
    users_file.write_text(DAVE, encoding="utf-8")
    assert upload_status(gateway, "dave1", "D4ve-pw1") == 202  # waits for the next worker's start
    assert gateway.process.poll() is None
