"""`make run` (tools/run_local.sh) as a newcomer meets it: loopback only, a clear failure, a quick Ctrl-C."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools/run_local.sh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(tmp_path: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HOST", "PORT", "QUEUE_DIR", "STORE_"))}
    env.update(
        PORT=str(port), QUEUE_DIR=str(tmp_path / "queue"), STORE_ROOT=str(tmp_path / "stores"),
        WORKER_METRICS_PORT="0", ZARR_INGRESS_PYTHON=sys.executable, AUTH_ENABLED="false",
    )
    return env


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start(tmp_path: Path, port: int, output: Path | None = None, sigint_ignored: bool = False) -> subprocess.Popen[str]:
    # Its own session, like a terminal's foreground job: Ctrl-C reaches every process of it.
    sink = output.open("w") if output is not None else subprocess.PIPE
    try:
        return subprocess.Popen(
            ["bash", str(SCRIPT)], cwd=tmp_path, env=environment(tmp_path, port), stdout=sink,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
            preexec_fn=ignore_sigint if sigint_ignored else None,
        )
    finally:
        if output is not None:
            sink.close()


def wait_for_output(output: Path, text: str, count: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if output.read_text().count(text) >= count:
            return
        assert process.poll() is None, output.read_text()
        time.sleep(0.05)
    pytest.fail(f"{text!r} never appeared {count} times:\n{output.read_text()}")


def wait_healthy(port: int, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still loading the app
            time.sleep(0.2)
    pytest.fail("the gateway never answered /health")


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    # run_local.sh works from the project folder; a link farm keeps .env and data/ out of the repo.
    for name in ("tools", "schemas", "gateway", "worker", "shared"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_run_local_fails_with_a_line_naming_the_port_when_it_is_taken(project_copy: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = start(project_copy, port)
        output, _ = process.communicate(timeout=90)
    assert process.returncode != 0
    assert f"gateway (port {port}) stopped" in output


def ctrl_c(process: subprocess.Popen[str]) -> float:
    """Seconds from a terminal's Ctrl-C (SIGINT to the whole foreground group) to the script's exit."""
    began = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=45)
    return time.monotonic() - began


def test_run_local_stops_on_ctrl_c_within_5_seconds_while_the_gateway_still_loads(project_copy: Path) -> None:
    # The hang of a fresh-clone trial: Ctrl-C while gunicorn's workers import the application
    # (seconds; tens on a loaded machine). They used to finish loading first, and past
    # GRACEFUL_TIMEOUT (30 s) gunicorn SIGKILLed them.
    output = project_copy / "run_local.out"
    process = start(project_copy, free_port(), output)
    try:
        wait_for_output(output, "Booting worker with pid", 2, process)
        time.sleep(0.5)  # past the fork, inside the imports of the application
        took = ctrl_c(process)
        assert took < 5, f"Ctrl-C while loading took {took:.1f} s:\n{output.read_text()}"
        assert process.returncode == 0, output.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_run_local_listens_on_loopback_and_stops_on_ctrl_c_within_5_seconds(project_copy: Path) -> None:
    port = free_port()
    process = start(project_copy, port)
    try:
        wait_healthy(port, process)
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # ss is in iproute2; where it is missing the bind address is not checked
            local_addresses = {line.split()[3] for line in listening.splitlines()}
            assert local_addresses == {f"127.0.0.1:{port}"}, listening
        # A keep-alive connection left open, as a browser or curl --keepalive leaves it.
        session = requests.Session()
        assert session.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        took = ctrl_c(process)
        assert took < 5, f"Ctrl-C took {took:.1f} s"
        session.close()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_run_local_exits_0_without_a_failure_line_when_sigint_reaches_the_processes_but_not_its_trap(
        project_copy: Path) -> None:
    # Started from a script as `make run &`, the shell inherits SIGINT ignored and cannot trap it;
    # the gateway and worker still stop on it, cleanly, and that is no failure of theirs.
    output = project_copy / "run_local.out"
    port = free_port()
    process = start(project_copy, port, output, sigint_ignored=True)
    try:
        wait_healthy(port, process)
        wait_for_output(output, "event=started", 1, process)  # the worker's handlers are set
        took = ctrl_c(process)
        assert process.returncode == 0, output.read_text()
        assert "stopped (exit status" not in output.read_text()
        assert took < 5, f"Ctrl-C took {took:.1f} s"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
