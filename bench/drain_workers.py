"""Workers merging a backlog beside the gateway, for the drain part of bench/gateway.py.

Each `DrainWorker` is a real `python -m worker` on a copy of one backlog in a queue of its own,
merging into a local store: the gateway's own queue stays untouched, so what the gateway feels
is only the worker's use of the CPUs and the disk. A worker not being measured is paused
(SIGSTOP), so several priority settings can take turns in one run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from e2e_stack import write_config  # tests/e2e: the schemas and endpoints config of the repo
from shared.queue import Queue

REPO = Path(__file__).resolve().parent.parent
HEADER = "timestamp,tree_id,sap_flow\n"
LOGGERS = 50
ROWS = 10  # per upload, as the gateway part's CSV


def logger_upload(index: int) -> bytes:
    """The `index`-th upload of LOGGERS loggers, each sending its next ROWS ten-minute rows."""
    logger, step = index % LOGGERS, index // LOGGERS
    rows = []
    for row in range(ROWS):
        minutes = (step * ROWS + row) * 10
        rows.append(f"2026-{1 + minutes // 43200:02d}-{1 + minutes // 1440 % 30:02d} {minutes // 60 % 24:02d}:"
                    f"{minutes % 60:02d}:00,oak-{logger:02d},{(logger * 7 + row) % 90}.5\n")
    return (HEADER + "".join(rows)).encode()


def fill_backlog(queue_dir: Path, uploads: int) -> None:
    queue = Queue(queue_dir)
    with ThreadPoolExecutor(8) as pool:  # the fsyncs overlap; ids stay in order per logger anyway
        list(pool.map(lambda index: queue.enqueue("tree", logger_upload(index), format="csv"), range(uploads)))


def _count(folder: Path) -> int:
    try:
        return sum(1 for name in os.listdir(folder) if name.endswith(".meta.json"))
    except FileNotFoundError:
        return 0


class DrainWorker:
    def __init__(self, home: Path, backlog: Path, extra_env: dict[str, str], stores: Path | None = None,
                 idle_class: bool = False) -> None:
        self.queue_dir = home / "queue"
        shutil.copytree(backlog / "queue", self.queue_dir)
        config = write_config(home / "schemas", {})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "ZF_", "AWS_", "STORE_"))}
        env.update({
            "PYTHONPATH": str(REPO), "QUEUE_DIR": str(self.queue_dir), "ENDPOINTS_CONFIG": str(config),
            "STORE_ROOT": str(stores or home / "stores"), "AUTH_ENABLED": "false", "WORKER_POLL_SECONDS": "0.5",
            "WORKER_METRICS_PORT": "0", "WORKER_METRICS_ADDR": "127.0.0.1", "LOG_LEVEL": "WARNING",
            **extra_env,
        })
        self.log = open(home / "worker.log", "wb")
        # idle_class: SCHED_IDLE (chrt --idle), below every nice level: the worker gets a CPU only
        # when nothing else wants it.
        command = [*(("chrt", "--idle", "0") if idle_class else ()), sys.executable, "-m", "worker"]
        self.process = subprocess.Popen(command, env=env, cwd=home,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def merged(self) -> int:
        return _count(self.queue_dir / "done" / "tree")

    def waiting(self) -> int:
        return _count(self.queue_dir / "accepted" / "tree") + _count(self.queue_dir / "active" / "tree")

    def wait_merging(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while self.merged() == 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not merge; see {self.log.name}")
            time.sleep(0.2)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
