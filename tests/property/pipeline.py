"""The real pipeline for the property tests: uploads through ``Queue.enqueue``, merged by the
worker's own ``Lane`` (batching, item-by-item fallback, completion), with kills at random
moments of a real merge process.

Killing must be cheap enough to do many times, so ``drain_child.py`` imports everything once
and forks a fresh drain process per attempt; the test SIGKILLs that process by its pid.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from worker.lane import LaneConfig

HERE = Path(__file__).resolve().parent
ENDPOINT = "prop"
# The worker's own default (worker/lane.py LaneConfig.move_threads): a batch's record is its
# commit point, so parallel moves to done/ cannot complete a later item before an earlier one.
MOVE_THREADS = int(os.environ.get("PROPERTY_MOVE_THREADS", str(LaneConfig.move_threads)))


def drain(queue_dir: Path, schema: Any, environ: Mapping[str, str], *, batch_items: int = 4,
          move_threads: int = MOVE_THREADS, passes: int = 8) -> None:
    """Start as a restarted worker does (recover the spool), then merge until nothing waits."""
    from shared.queue import Queue
    from worker.lane import Lane, LaneConfig
    from worker.metrics import WorkerMetrics

    queue = Queue(queue_dir)
    queue.recover()
    config = LaneConfig(batch_items=batch_items, batch_rows=100_000, poll_seconds=0.01,
                        retry_max_seconds=0.01, retry_base_seconds=0.01, move_threads=move_threads)
    stop = threading.Event()
    lane = Lane(ENDPOINT, schema, queue, config, WorkerMetrics(), stop, dict(environ))
    for _ in range(passes):          # bounded: an item that never settles fails the test
        lane.resume_at = 0.0         # no back-off sleeps in a test
        lane.drain_once()
        if not queue.scan(ENDPOINT):
            break
    stop.set()
    lane.run()                       # with stop set: settles moves, closes the store and pool


class DrainServer:
    """A process that has imported the pipeline and forks one drain process per request."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), str(HERE)]))
        self.proc = subprocess.Popen([sys.executable, str(HERE / "drain_child.py")], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def drain_and_kill(self, queue_dir: Path, schema_path: Path, environ: Mapping[str, str],
                       kill_after: float) -> str:
        """Drain in a fresh process, SIGKILLed ``kill_after`` seconds in; its exit status."""
        request = {"queue_dir": str(queue_dir), "schema": str(schema_path), "environ": dict(environ),
                   "move_threads": MOVE_THREADS}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline())
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass                      # it finished first: a crash point after the end
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
