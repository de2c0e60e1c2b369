"""Real parts for end-to-end tests: processes, a moto S3 server, a switchable TCP proxy.

Everything listens on 127.0.0.1 on ports found free at run time; every process is started with
an environment pointing at the test's own temporary folders and is killed by the fixture that
started it.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
BUCKET = "zarr-fuse-ingress"
KEY, SECRET = "testing-key", "testing-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, message: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s: {message}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Process:
    """A child process with its output in a log file; killed (never left behind) on close."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], cwd: Path, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(args, env=dict(env), cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.popen.send_signal(signum)

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)  # gunicorn's workers too
            except ProcessLookupError:
                pass
        self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def close(self) -> None:
        self.kill()
        self._log.close()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


class MotoServer:
    """moto in server mode: a separate process speaking S3 over HTTP."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
        self.process = Process(f"moto-{self.port}", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                                     str(self.port)], env, cwd, log_dir)
        wait_until(lambda: port_open(self.port), 30, "moto server listening")

    def create_bucket(self, bucket: str = BUCKET) -> None:
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                              region_name="us-east-1")
        client.create_bucket(Bucket=bucket)

    def close(self) -> None:
        self.process.close()


class TcpProxy:
    """A TCP relay on its own port in front of another one, which a test can switch off.

    Off means what a stopped S3 server means to its clients: new connections are refused (the
    listening socket is closed) and open ones are cut. On again listens on the same port.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.connections = 0
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            open_sockets, self._sockets = self._sockets, set()
        if listener is not None:
            listener.close()
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # switched off
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._sockets -= {source, sink}


def write_config(folder: Path, stores: Mapping[str, str]) -> Path:
    """Copy the schemas and endpoints config into `folder`, pointing each store where asked.

    `stores` maps an endpoint name to an S3 URL (http://127.0.0.1:PORT) or to "local:<dir>";
    endpoints not named keep the schema's store (they are then used only with STORE_ROOT).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for source in (REPO / "schemas").glob("*.yaml"):
        shutil.copy(source, folder / source.name)
    for entry in yaml.safe_load((folder / "endpoints_config.yaml").read_text()):
        where = stores.get(entry["name"])
        if where is None:
            continue
        schema_file = folder / entry["schema_path"]
        schema = yaml.safe_load(schema_file.read_text())
        attrs = schema["ATTRS"]
        if where.startswith("local:"):
            for key in ("s3_url", "store_path"):
                attrs.pop(key, None)
            attrs["STORE_URL"] = str(Path(where[len("local:"):]) / f"{entry['name']}.zarr")
        else:
            attrs["s3_url"] = where
        schema_file.write_text(yaml.safe_dump(schema, sort_keys=False))
    return folder / "endpoints_config.yaml"


class Stack:
    """A queue, a gateway and workers for one test, all in the test's temporary folder."""

    def __init__(self, root: Path, *, stores: Mapping[str, str] | None = None, store_root: Path | None = None,
                 s3_endpoint_url: str | None = None, extra_env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.queue_dir = root / "queue"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config = write_config(root / "schemas", stores or {})
        self.processes: list[Process] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "ZF_", "AWS_", "STORE_"))}
        env.update({
            "PYTHONPATH": str(REPO),
            "QUEUE_DIR": str(self.queue_dir),
            "ENDPOINTS_CONFIG": str(self.config),
            "AUTH_ENABLED": "false",
            "S3_ACCESS_KEY": KEY,
            "S3_SECRET_KEY": SECRET,
            "WORKER_POLL_SECONDS": "0.5",
            "WORKER_RETRY_MAX_SECONDS": "2",
            "WORKER_METRICS_PORT": "0",
            "WORKER_METRICS_ADDR": "127.0.0.1",
            "LOG_LEVEL": "INFO",
        })
        if store_root is not None:
            env["STORE_ROOT"] = str(store_root)
        if s3_endpoint_url is not None:
            env["S3_ENDPOINT_URL"] = s3_endpoint_url
        env.update(extra_env or {})
        self.env = env
        self.gateway_url = ""

    # -- processes ------------------------------------------------------------------------------
    def start(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Process:
        process = Process(name, args, {**self.env, **(env or {})}, self.root, self.logs)
        self.processes.append(process)
        return process

    def start_gateway(self, workers: int = 2) -> Process:
        port = free_port()
        gateway = self.start("gateway", [PYTHON, "-m", "gateway"],
                             {"PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)})
        self.gateway_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if not gateway.alive():
                raise AssertionError(f"gateway exited:\n{gateway.log()[-3000:]}")
            try:
                return requests.get(self.gateway_url + "/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, 60, "gateway /health")
        return gateway

    def start_worker(self, name: str = "worker", env: Mapping[str, str] | None = None) -> Process:
        return self.start(name, [PYTHON, "-m", "worker"], env)

    def queue_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "worker.queue_cli", *args], env=self.env, cwd=self.root,
                              capture_output=True, text=True, timeout=60)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.close()

    # -- uploads --------------------------------------------------------------------------------
    def upload(self, endpoint: str, csv: str | bytes, node_path: str = "", session: Any = None) -> str:
        url = f"{self.gateway_url}/api/v1/{endpoint}" + (f"/{node_path}" if node_path else "")
        body = csv.encode() if isinstance(csv, str) else csv
        response = (session or requests).post(url, data=body, headers={"Content-Type": "text/csv"}, timeout=30)
        assert response.status_code == 202, f"{response.status_code} {response.text[:500]}"
        return response.json()["id"]

    # -- the queue, read from disk --------------------------------------------------------------
    def ids(self, state: str, endpoint: str | None = None) -> list[str]:
        from shared.queue import Queue

        return [item.id for item in Queue(self.queue_dir).items(state, endpoint)]

    def count(self, state: str, endpoint: str | None = None) -> int:
        from shared.queue import Queue

        counts = Queue(self.queue_dir).counts()[state]
        return counts.get(endpoint, 0) if endpoint else sum(counts.values())

    def sidecar(self, state: str, upload_id: str) -> dict[str, Any]:
        for path in (self.queue_dir / state).glob(f"*/{upload_id}.*.meta.json"):
            return json.loads(path.read_text())
        raise AssertionError(f"{upload_id} is not {state}")

    def wait_drained(self, expected_done: int, timeout: float = 120, endpoint: str | None = None) -> None:
        wait_until(lambda: self.count("done", endpoint) >= expected_done, timeout,
                   f"{expected_done} done (have {self.count('done', endpoint)}, "
                   f"failed {self.count('failed', endpoint)})", interval=0.25)


def open_s3_dataset(endpoint_url: str, store_path: str, group: str | None = None) -> Any:
    """The store as any user would open it: plain xarray over s3fs, no project code."""
    import xarray as xr

    options = {"endpoint_url": endpoint_url, "key": KEY, "secret": SECRET, "skip_instance_cache": True,
               "use_listings_cache": False}
    return xr.open_zarr(f"s3://{store_path}", group=group, storage_options=options, consolidated=False).load()


def open_local_dataset(path: Path, group: str | None = None) -> Any:
    import xarray as xr

    return xr.open_zarr(str(path), group=group, consolidated=False).load()


def single_row_csv(rng: random.Random, index: int) -> str:
    """A tree upload of one row; a small set of cells, so uploads overwrite one another."""
    hour = rng.randrange(6)
    tree = rng.choice(["oak-01", "beech-07", "spruce-12"])
    return ("timestamp,tree_id,sap_flow,stem_temperature\n"
            f"2026-06-14 {6 + hour:02d}:00:00,{tree},{index % 5000},{(index % 100) / 10:.1f}\n")
