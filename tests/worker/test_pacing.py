"""worker/pacing.py: the worker holds its CPU to a share while uploads pour in, and only then.

The Pacer is driven here by a simulated lane on an explicit clock: each step a batch uses some
CPU, uploads arrive at some rate, and the lane pauses for what `pause_for()` says. Checked
against plain arithmetic: while arrivals stay at or above the busy rate the CPU used stays within
share x time (plus the one batch that may run before a pause), below half the rate and above
the backlog limit nothing pauses, and a share of 1 never pauses.
"""
from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from worker.pacing import BUDGET_WINDOW_SECONDS, PaceConfig, Pacer
from worker.watch import WATCH_SECONDS


class Simulation:
    """A lane on a simulated clock: batches use CPU, uploads arrive, pauses pass time, and the
    arrival watch hands the pacer a reading of the count every WATCH_SECONDS."""

    def __init__(self, config: PaceConfig) -> None:
        self.now, self.cpu, self.count = 1000.0, 0.0, 0.0
        self.next_reading = self.now
        self.pacer = Pacer(config, lambda: self.now, lambda: self.cpu)

    def batch(self, cpu_seconds: float, rate: float) -> float:
        """Run one batch (its CPU, in as much wall time), then the pause; the pause's length."""
        self._advance(cpu_seconds, rate, busy=True)
        paused = 0.0
        while (wait := self.pacer.pause_for()) > 0:  # what Pacer.pace does, in steps
            step = min(wait, 0.25)
            self._advance(step, rate, busy=False)
            paused += step
        return paused

    def _advance(self, seconds: float, rate: float, busy: bool) -> None:
        end = self.now + seconds
        while self.next_reading <= end:
            self.count += rate * (self.next_reading - self.now)
            if busy:
                self.cpu += self.next_reading - self.now
            self.now = self.next_reading
            self.pacer.observe(int(self.count))
            self.next_reading += WATCH_SECONDS
        self.count += rate * (end - self.now)
        if busy:
            self.cpu += end - self.now
        self.now = end


batches = st.lists(st.floats(0.01, 0.5), min_size=20, max_size=80)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(batches, st.sampled_from([0.05, 0.1, 0.2, 0.5]), st.floats(120, 2000))
def test_while_uploads_pour_in_the_cpu_stays_within_its_share(cpu_per_batch, share, rate):
    sim = Simulation(PaceConfig(busy_uploads=100, share=share, max_backlog=10**9))
    sim.batch(0.01, rate)  # the first batches give the pacer its first rate and budget
    sim.batch(0.3, rate)
    began_wall, began_cpu = sim.now, sim.cpu
    for cpu_seconds in cpu_per_batch:
        sim.batch(cpu_seconds, rate)
    wall, cpu = sim.now - began_wall, sim.cpu - began_cpu
    # Held over windows of BUDGET_WINDOW_SECONDS: at most one batch and one window's share over.
    assert cpu <= share * wall + max(cpu_per_batch) + share * BUDGET_WINDOW_SECONDS + 1e-6
    assert sim.pacer.pacing


@settings(max_examples=100, deadline=None, derandomize=True)
@given(batches, st.floats(0, 95))
def test_below_the_busy_rate_nothing_pauses(cpu_per_batch, rate):
    sim = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=10**9))
    assert sum(sim.batch(cpu_seconds, rate) for cpu_seconds in cpu_per_batch) == 0
    assert not sim.pacer.pacing


@settings(max_examples=100, deadline=None, derandomize=True)
@given(batches, st.floats(120, 2000))
def test_a_backlog_past_the_limit_or_a_share_of_one_never_pauses(cpu_per_batch, rate):
    over = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=500))
    over.pacer.set_backlog(501)
    off = Simulation(PaceConfig(busy_uploads=100, share=1.0, max_backlog=10**9))
    for cpu_seconds in cpu_per_batch:
        assert over.batch(cpu_seconds, rate) == 0
        assert off.batch(cpu_seconds, rate) == 0


def test_pacing_ends_below_half_the_rate_not_at_it():
    sim = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=10**9))
    for _ in range(10):
        sim.batch(0.2, 150)
    assert sim.pacer.pacing
    for _ in range(10):  # between half the rate and the rate: still a flood coming down
        sim.batch(0.2, 60)
    assert sim.pacer.pacing
    paused = [sim.batch(0.2, 30) for _ in range(10)]
    assert not sim.pacer.pacing and paused[-5:] == [0] * 5
    for _ in range(10):  # the edge itself does not start it again
        sim.batch(0.2, 90)
    assert not sim.pacer.pacing


def test_a_backlog_growing_past_the_limit_ends_the_pauses_at_once():
    sim = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=1000))
    for _ in range(10):
        sim.batch(0.2, 400)
    assert sim.pacer.pacing
    sim.pacer.set_backlog(1001)
    assert sim.batch(0.2, 400) == 0 and not sim.pacer.pacing


def test_a_counter_that_starts_again_gives_no_rate():
    sim = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=10**9))
    sim.count = 10**6
    sim.batch(0.5, 0)
    sim.count = 0  # a new queue: not a million uploads arriving backwards
    assert [sim.batch(0.2, 0) for _ in range(5)] == [0] * 5 and not sim.pacer.pacing


def test_batches_are_small_while_pacing_and_whole_otherwise():
    sim = Simulation(PaceConfig(busy_uploads=100, share=0.1, max_backlog=10**9, batch_items=50))
    assert sim.pacer.batch_items(1000) == 1000
    for _ in range(10):
        sim.batch(0.2, 400)
    assert sim.pacer.batch_items(1000) == 50 and sim.pacer.batch_items(7) == 7


def test_pace_returns_at_once_when_the_worker_stops():
    """The real pace() with the real clocks: a long pause is cut short by the stop event."""
    paused: list[float] = []
    pacer = Pacer(PaceConfig(busy_uploads=10, share=0.01, max_backlog=10**9), on_pause=paused.append)
    pacer.observe(0)
    time.sleep(0.3)
    pacer.observe(1000)  # a flood
    pacer.pause_for()  # busy now: the budget starts
    spent = time.process_time() + 0.05
    while time.process_time() < spent:  # 50 ms of CPU at a share of 1 %: about 5 s of pause owed
        pass
    pacer.observe(2000)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    began = time.monotonic()
    pacer.pace(stop)
    assert 0.4 < time.monotonic() - began < 2.0
    assert pacer.paused_seconds > 0 and sum(paused) == pytest.approx(pacer.paused_seconds)


@pytest.mark.parametrize("name, value, message", [
    ("WORKER_BUSY_SHARE", "0", "WORKER_BUSY_SHARE: 0 must be above 0 and at most 1"),
    ("WORKER_BUSY_SHARE", "1.5", "WORKER_BUSY_SHARE: 1.5 must be above 0 and at most 1"),
    ("WORKER_BUSY_SHARE", "a tenth", "WORKER_BUSY_SHARE: expected a number, got 'a tenth'"),
    ("WORKER_BUSY_UPLOADS", "-3", "WORKER_BUSY_UPLOADS: -3 must be above 0"),
    ("WORKER_BUSY_BACKLOG", "-1", "WORKER_BUSY_BACKLOG: -1 must be 0 or more waiting items"),
])
def test_a_bad_pacing_setting_names_the_key(name, value, message):
    from shared.config import ConfigError
    from worker.__main__ import pace_config

    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        pace_config({name: value}, 10_000)


def test_pacing_defaults_follow_the_queue_limit():
    from worker.__main__ import pace_config

    config = pace_config({}, 10_000)
    assert (config.busy_uploads, config.share, config.max_backlog) == (100, 0.1, 5000)
    assert pace_config({"WORKER_BUSY_BACKLOG": "70", "WORKER_BUSY_SHARE": "1"}, 10_000).max_backlog == 70
