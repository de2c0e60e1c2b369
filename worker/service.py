"""The worker process: owns the queue, runs one lane per endpoint, and shuts down cleanly.

Start-up: wait for ``QUEUE_DIR/worker.lock`` (a second worker is a hot standby: the OS drops
the lock the moment its holder dies, and the standby takes over within a poll interval), repair
what a dead worker left (``Queue.recover``), then start the lanes and the arrival watch. While running:
write the heartbeat (with each lane's state), log a lane stuck in one store call every
STALL_LOG_SECONDS (a hung S3 is never silent), prune done/. On SIGTERM/SIGINT: let each lane finish the batch in progress
(every queue step is a rename, so nothing is ever half-moved), then release the lock.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from filelock import FileLock, Timeout

from shared.notify import Notifier
from shared.queue import Queue
from shared.queue.loggers import LoggerBook

from shared.queue.heartbeat import HEARTBEAT_SECONDS, remove_heartbeat, write_heartbeat
from worker.alerts import DEFAULT_STORE_DOWN_MINUTES, SilenceWatch
from worker.lane import Lane, LaneConfig
from worker.payloads import PayloadReader
from shared.logs import log_event
from worker.metrics import WorkerMetrics
from worker.pacing import PaceConfig, Pacer
from worker.watch import ArrivalWatch

log = logging.getLogger("worker")

LOCK_FILE = "worker.lock"
LOCK_POLL_SECONDS = 0.5
SHUTDOWN_SECONDS = 25.0  # lanes get this long to finish their batch; the process exits before 30 s
PRUNE_EVERY_SECONDS = 3600.0
STALL_LOG_SECONDS = 30.0


class Worker:
    def __init__(
        self,
        queue_dir: Path,
        schemas: Mapping[str, Any],
        config: LaneConfig,
        *,
        done_retention_days: float,
        metrics_port: int = 0,
        metrics_addr: str = "0.0.0.0",
        environ: Mapping[str, str] | None = None,
        readers: Mapping[str, PayloadReader] | None = None,
        notifier: Notifier | None = None,
        store_down_seconds: float = DEFAULT_STORE_DOWN_MINUTES * 60,
        stall_log_seconds: float = STALL_LOG_SECONDS,
        expected_intervals: Mapping[str, float] | None = None,
        pacing: PaceConfig | None = None,
    ) -> None:
        self.notifier = notifier  # operators' digest: failed uploads, long store outages, silent loggers
        self.silence = SilenceWatch(LoggerBook(queue_dir), expected_intervals or {}, notifier)
        self.store_down_seconds = store_down_seconds
        self.queue_dir = Path(queue_dir)
        self.readers = dict(readers or {})  # by endpoint: extractor plugins and binary formats
        self.schemas = dict(schemas)
        self.config = config
        self.done_retention = timedelta(days=done_retention_days)
        self.metrics_port = metrics_port
        self.metrics_addr = metrics_addr
        self.environ = environ
        self.stop = threading.Event()
        self.metrics = WorkerMetrics()
        self.pacer = Pacer(pacing or PaceConfig(), on_pause=self.metrics.paced_seconds.inc)  # shared by the lanes
        self.lanes: dict[str, Lane] = {}
        self.stall_log_seconds = stall_log_seconds
        self._stall_logged: dict[str, float] = {}  # lane -> busy seconds at its last stall line

    def request_stop(self, reason: str = "signal") -> None:
        if not self.stop.is_set():
            log_event(log, "stopping", reason=reason)
        self.stop.set()
        for lane in self.lanes.values():
            lane.wake()

    def wake_lanes(self) -> None:
        for lane in self.lanes.values():
            lane.wake()

    def run(self) -> int:
        self.queue_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.queue_dir / LOCK_FILE, thread_local=False, preserve_lock_file=True)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            log_event(log, "standby", queue=self.queue_dir, reason="another worker holds the lock")
            try:
                lock.acquire(timeout=-1, poll_interval=LOCK_POLL_SECONDS, cancel_check=self.stop.is_set)
            except Timeout:
                log_event(log, "stopped", reason="stopped while standby")
                return 0
        if self.stop.is_set():
            lock.release()
            return 0
        try:
            return self._run_locked()
        finally:
            remove_heartbeat(self.queue_dir)
            lock.release()
            log_event(log, "stopped", reason="clean shutdown")

    def _run_locked(self) -> int:
        started_at = datetime.now(timezone.utc)
        write_heartbeat(self.queue_dir, started_at)
        queue = Queue(self.queue_dir)
        recovered = queue.recover()
        log_event(log, "started", queue=self.queue_dir, endpoints=",".join(self.schemas), recovered=len(recovered))
        for item in recovered:
            log_event(log, "recovered", upload_id=item.sidecar.id, endpoint=item.sidecar.endpoint)
        self.metrics.serve(self.metrics_port, self.metrics_addr)
        if self.notifier is not None:
            self.notifier.start()

        for name, schema in self.schemas.items():
            self.lanes[name] = Lane(name, schema, queue, self.config, self.metrics, self.stop, self.environ,
                                    reader=self.readers.get(name), notifier=self.notifier,
                                    store_down_seconds=self.store_down_seconds, pacer=self.pacer)
        watch = ArrivalWatch(queue, self.wake_lanes, self.stop, self.pacer.observe)
        for lane in self.lanes.values():
            lane.start()
        watch.start()
        self._report_unknown_endpoints(queue)

        next_prune = 0.0
        try:
            while not self.stop.is_set():
                write_heartbeat(self.queue_dir, started_at, {name: lane.report() for name, lane in self.lanes.items()})
                self._report_stalls()
                self._observe_waiting(queue)
                self._check_silence()
                if time.monotonic() >= next_prune:
                    self._prune(queue)
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                self.stop.wait(HEARTBEAT_SECONDS)
        finally:
            self.request_stop("shutdown")
            watch.join(5)
            deadline = time.monotonic() + SHUTDOWN_SECONDS
            for lane in self.lanes.values():
                lane.join(max(0.0, deadline - time.monotonic()))
                if lane.is_alive():
                    # A merge stuck past the deadline: its items stay in active/ and the next
                    # worker's recover() puts them back; the merge is idempotent.
                    log_event(log, "lane_abandoned", logging.WARNING, endpoint=lane.endpoint)
            if self.notifier is not None:
                self.notifier.close()  # what is pending goes out at stop
        return 0

    def _report_stalls(self) -> None:
        for name, lane in self.lanes.items():
            seconds = lane.busy_seconds()
            last = self._stall_logged.get(name, 0.0)
            if seconds < last:  # a new call since the last line
                last = 0.0
            if seconds - last >= self.stall_log_seconds:
                report = lane.report()
                log_event(log, "lane_stalled", logging.WARNING, endpoint=name, doing=report["busy"],
                          seconds=f"{seconds:.0f}", since=report["busy_since"])
                last = seconds
            self._stall_logged[name] = last

    def _check_silence(self) -> None:
        try:
            self.silence.check()
        except Exception as error:  # bookkeeping; never stop merging for it
            log_event(log, "silence_check_failed", logging.WARNING, error=error)

    def _observe_waiting(self, queue: Queue) -> None:
        waiting = queue.waiting_by_endpoint()
        for name in self.lanes:
            self.metrics.waiting.labels(name).set(waiting.get(name, (0, None))[0])
        self.pacer.set_backlog(sum(count for count, _ in waiting.values()))

    def _prune(self, queue: Queue) -> None:
        try:
            removed = queue.purge_done(self.done_retention)
        except Exception as error:  # pruning is housekeeping; never stop merging for it
            log_event(log, "prune_failed", logging.WARNING, error=error)
            return
        if removed:
            log_event(log, "pruned", removed=removed, older_than_days=self.done_retention.days)

    def _report_unknown_endpoints(self, queue: Queue) -> None:
        # Folder names only: reading every sidecar of a backlog took seconds at each start.
        waiting = {endpoint for endpoint, (count, _) in queue.waiting_by_endpoint().items() if count}
        unknown = sorted(waiting - set(self.schemas))
        for endpoint in unknown:
            log_event(log, "unknown_endpoint", logging.WARNING, endpoint=endpoint,
                      hint="items wait until the endpoint is configured again")
