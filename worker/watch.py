"""New uploads as a wake-up for the lanes: the queue's id counter, read ten times a second.

Every upload a gateway (or the scheduler) queues takes its id from `ids.counter`, which also
counts the ids handed out (`Queue.ids_handed_out`). A thread reads that count every
WATCH_SECONDS; when it moved, every lane is woken and scans its endpoint's folder. That is one
read of a 42-byte file per tenth of a second, whatever the rate of uploads. (Until this version
watchdog's inotify events woke the lanes; in a flood of uploads its pairing of move events cost
over half of the worker's CPU, searching its pending moves linearly for every event, and its
event queue overflowed and lost events: bench/gateway.py --parts drain, issue 11.) Items that
reach accepted/ without a new id (an operator's retry) wait for the lanes' periodic rescan
(WORKER_POLL_SECONDS): the folders are the truth. Each reading also goes to the pacer
(worker/pacing.py), which takes the rate of arrivals from them.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.logs import log_event
from shared.queue import Queue

log = logging.getLogger("worker.watch")
WATCH_SECONDS = 0.1


class ArrivalWatch(threading.Thread):
    def __init__(self, queue: Queue, wake: Callable[[], None], stop: threading.Event,
                 observe: Callable[[int], None] | None = None, interval: float = WATCH_SECONDS) -> None:
        super().__init__(name="arrivals", daemon=True)
        self.queue, self.wake, self.stop, self.interval = queue, wake, stop, interval
        self.observe = observe  # each reading, for the pacer's arrival rate
        self._failing = False

    def run(self) -> None:
        seen = self._count()
        while not self.stop.wait(self.interval):
            count = self._count()
            if count is None:
                continue
            if self.observe is not None:
                self.observe(count)
            if count != seen:
                seen = count
                self.wake()

    def _count(self) -> int | None:
        try:
            count = self.queue.ids_handed_out()
        except OSError as error:  # a queue disk in trouble: the lanes' rescans still run
            if not self._failing:  # once per run of failures, not ten lines a second
                log_event(log, "watch_failed", logging.WARNING, error=error.strerror or error)
            self._failing = True
            return None
        self._failing = False
        return count
