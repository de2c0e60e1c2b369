"""Ingest first: while uploads pour in, the worker holds its CPU to a share and lets the gateway run.

On a machine the worker shares with the gateway, a worker merging at full speed costs a gateway
under load a third to a half of its uploads per second (bench/gateway.py --parts drain), and no
CPU or I/O priority fixes that: on two cores the two simply share the CPUs. Loggers cannot wait
for an answer; merges can. So while uploads arrive at WORKER_BUSY_UPLOADS per second or more, the
lanes pause between batches so that the worker process uses at most WORKER_BUSY_SHARE
CPU-seconds per second (all its threads together), merging batches of at most 50 items between
the pauses. A pause never holds a batch half done: it comes after the batch's completion record
is durable. Two things end pacing: arrivals falling
below half that rate (the next batch runs at full speed), and a backlog of more than
WORKER_BUSY_BACKLOG waiting items (default: half of QUEUE_MAX_ITEMS; a flood that never ends
must not grow the queue until the gateway refuses uploads for want of room: past it the worker
drains at full speed).

Arrivals are read from the queue's id counter (`Queue.ids_handed_out`): every gateway process
takes each upload's id from it, so it counts them all, exactly, however fast they come. The
arrival watch (worker/watch.py) reads it ten times a second and hands each reading to
`observe()`; the rate is taken over about the last second of readings. A flood that begins
while a lane merges a full batch of a backlog is paced from the end of that batch.
WORKER_BUSY_SHARE=1 turns pacing off: right for a worker on a machine of its own, where there is
no gateway to leave CPU to.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from shared.logs import log_event

log = logging.getLogger("worker.pacing")

RATE_WINDOW_SECONDS = 1.0  # the arrival rate is taken over about the last second
BUDGET_WINDOW_SECONDS = 2.0  # the CPU share is held over windows of about this length
STEP_SECONDS = 0.25  # a pause re-checks the rate this often, so the end of a flood ends it too
MIN_PAUSE_SECONDS = 0.01  # shorter debts are not worth a sleep


@dataclass(frozen=True)
class PaceConfig:
    busy_uploads: float = 100.0  # arrivals per second from which the gateway counts as busy
    share: float = 0.1  # CPU-seconds per second the worker may use while it is busy; 1: no pacing
    max_backlog: int = 5000  # above this many waiting items, no pacing (worker: QUEUE_MAX_ITEMS / 2)
    batch_items: int = 50  # a lane's batches while pacing: short bursts, not one of seconds

    @property
    def off(self) -> bool:
        return self.share >= 1


class Pacer:
    """One per worker process, shared by its lanes (the CPU budget is the process's).

    `observe()` gets a count that grows by one per upload (the queue's ids handed out); `clock`
    and `cpu` are the wall clock and the process's CPU time."""

    def __init__(self, config: PaceConfig, clock: Callable[[], float] = time.monotonic,
                 cpu: Callable[[], float] = time.process_time, on_pause: Callable[[float], None] | None = None) -> None:
        self.config = config
        self._clock, self._cpu = clock, cpu
        self._on_pause = on_pause  # each pause's seconds (the worker's paced_seconds metric)
        self._samples: deque[tuple[float, int]] = deque()  # (clock, count), oldest first
        self._lock = threading.Lock()
        self._backlog = 0
        self._mark: tuple[float, float] | None = None  # (clock, cpu) where the current budget began
        self._pacing = False
        self._rate = 0.0
        self.paused_seconds = 0.0  # in all, for the tests
        self._paused_before = 0.0  # paused_seconds when the current spell of pacing began

    def observe(self, count: int) -> None:
        """A reading of the arrivals count (from the arrival watch's thread)."""
        now = self._clock()
        with self._lock:
            samples = self._samples
            if samples and count < samples[-1][1]:
                samples.clear()  # the counter started again (a new queue): no rate across that
            samples.append((now, count))
            while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW_SECONDS:
                samples.popleft()  # keep one reading at least a window old
            first_time, first_count = samples[0]
            span = now - first_time
            self._rate = (count - first_count) / span if span >= RATE_WINDOW_SECONDS / 4 else 0.0

    def set_backlog(self, waiting: int) -> None:
        self._backlog = waiting

    @property
    def pacing(self) -> bool:
        return self._pacing

    def batch_items(self, most: int) -> int:
        """The most items for a lane's next batch: fewer while pacing, so that the CPU the worker
        takes comes in bursts of a fraction of a second between pauses (a full batch of a backlog
        merges for seconds, and the gateway would lose those seconds whole)."""
        return min(most, self.config.batch_items) if self._pacing else most

    def pause_for(self) -> float:
        """Seconds to pause now to keep the process's CPU within its share (0: go on)."""
        if self.config.off:
            return 0.0
        now, cpu = self._clock(), self._cpu()
        with self._lock:
            if not self._busy():
                self._mark = None
                self._set_pacing(False)
                return 0.0
            self._set_pacing(True)
            if self._mark is None:
                self._mark = (now, cpu)
                return 0.0
            began, cpu_began = self._mark
            wait = (cpu - cpu_began) / self.config.share - (now - began)
            if wait <= 0 and now - began >= BUDGET_WINDOW_SECONDS:
                self._mark = (now, cpu)  # within budget over a whole window: start a new one
            return wait if wait >= MIN_PAUSE_SECONDS else 0.0

    def pace(self, stop: threading.Event) -> None:
        """Pause (in steps, until stopped or no longer busy) as long as pause_for() says."""
        while not stop.is_set():
            wait = self.pause_for()
            if wait <= 0:
                return
            step = min(wait, STEP_SECONDS)
            stop.wait(step)
            with self._lock:
                self.paused_seconds += step
            if self._on_pause is not None:
                self._on_pause(step)

    def _busy(self) -> bool:
        """At or above the rate; once pacing, until below half of it (no flapping at the edge)."""
        if self._backlog > self.config.max_backlog:
            return False
        return self._rate >= (self.config.busy_uploads / 2 if self._pacing else self.config.busy_uploads)

    def _set_pacing(self, pacing: bool) -> None:
        if pacing == self._pacing:
            return
        self._pacing = pacing
        if pacing:
            self._paused_before = self.paused_seconds
            log_event(log, "pacing_started", rate=f"{self._rate:.0f}", share=self.config.share, backlog=self._backlog)
        else:  # paused_seconds: of this spell
            log_event(log, "pacing_ended", rate=f"{self._rate:.0f}",
                      paused_seconds=f"{self.paused_seconds - self._paused_before:.1f}", backlog=self._backlog)
