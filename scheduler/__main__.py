"""``python -m scheduler`` (``zarr-ingress scheduler``): run the scrapers on their schedules.

    zarr-ingress scheduler                 run every scraper on its cron until SIGTERM/SIGINT
    zarr-ingress scheduler --run-now NAME  run one scraper once, now; exit 0 when every context
                                           was fetched, 1 otherwise (notifications flushed first)
        [--run N]                          with the constants (`set:`) of its runs[N] (from 0);
                                           default: the run whose cron slot came last
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone

from shared.config import ConfigError, Settings, load_settings, merged_environ
from shared.config.scrapers import Run, Scraper
from shared.logs import configure_logging, log_event
from shared.notify import Notifier, notifier_from
from shared.queue import Queue
from scheduler.dataframes import WatchedDataframes
from scheduler.fetch import RetryPolicy
from scheduler.metrics import SchedulerMetrics
from scheduler.schedule import interval_seconds, latest_due, missed, next_of
from shared.queue.scheduler_state import SchedulerState
from scheduler.service import RunResult, failure_lines, run_scraper

log = logging.getLogger("scheduler")
DEFAULT_METRICS_PORT = 9102


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: object) -> datetime | None:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def env_number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    text = environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {text!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: {value:g} is below {minimum:g}")
    return value


class Scheduler:
    """Runs each scraper at its cron times; two runs of one scraper never overlap."""

    def __init__(self, settings: Settings, policy: RetryPolicy, notifier: Notifier, metrics: SchedulerMetrics) -> None:
        self.scrapers = {scraper.name: scraper for scraper in settings.scrapers}
        self.dataframes = WatchedDataframes(self.scrapers)  # site lists re-read when edited
        self.queue = Queue(settings.queue_dir)
        self.state = SchedulerState(settings.queue_dir)
        self.policy, self.notifier, self.metrics = policy, notifier, metrics
        self.stop = threading.Event()
        self._running: dict[str, threading.Lock] = {name: threading.Lock() for name in self.scrapers}
        recorded, now = self.state.read(), datetime.now(timezone.utc)
        for name, scraper in self.scrapers.items():
            success = parse_iso(recorded.get(name, {}).get("last_success"))
            metrics.declare(name, interval_seconds(scraper, now), success.timestamp() if success else None)
        self._threads: list[threading.Thread] = []

    def run_once(self, scraper: Scraper, run: Run, scheduled: datetime) -> RunResult | None:
        """One run, unless the previous one of this scraper is still going (then None)."""
        lock = self._running[scraper.name]
        if not lock.acquire(blocking=False):
            log_event(log, "run_skipped", logging.WARNING, scraper=scraper.name, scheduled=iso(scheduled),
                      reason="previous run still going")
            return None
        try:
            log_event(log, "run_started", scraper=scraper.name, scheduled=iso(scheduled))
            try:
                result = run_scraper(self.dataframes.current(scraper.name), run, scheduled, self.queue, self.policy)
            except Exception as error:  # a broken run is a failed run: recorded and notified, never lost in a thread
                log_event(log, "run_broke", logging.ERROR, exc_info=True, scraper=scraper.name, scheduled=iso(scheduled))
                result = RunResult(scraper.name, iso(scheduled), error=f"{type(error).__name__}: {error}")
            self._account(scraper, result)
            return result
        finally:
            lock.release()

    def _account(self, scraper: Scraper, result: RunResult) -> None:
        self.metrics.runs.labels(scraper.name, "ok" if result.ok else "failed").inc()
        for outcome, count in result.outcomes.items():
            self.metrics.fetches.labels(scraper.name, outcome).inc(count)
        self.metrics.bytes.labels(scraper.name).inc(result.bytes)
        if result.ok:
            self.metrics.last_success.labels(scraper.name).set_to_current_time()
        else:
            for line in failure_lines(result):
                self.notifier.add(line)
        _, upcoming = next_of(scraper, datetime.now(timezone.utc))
        self.state.record(result.scraper, result.scheduled, result.ok, result.fetched, len(result.failures),
                          next_run=iso(upcoming), reason=result.reason)
        log_event(log, "run_finished", scraper=scraper.name, scheduled=result.scheduled, fetched=result.fetched,
                  failed=len(result.failures))

    def _start(self, scraper: Scraper, run: Run, scheduled: datetime) -> None:
        thread = threading.Thread(target=self.run_once, args=(scraper, run, scheduled), name=f"run-{scraper.name}")
        thread.start()
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def serve(self) -> int:
        now = datetime.now(timezone.utc)
        state = self.state.read()
        upcoming: dict[str, tuple[Run, datetime]] = {}
        for name, scraper in self.scrapers.items():
            # Catch-up: only a scraper with a recorded run catches up, and once, not per slot.
            last = parse_iso(state.get(name, {}).get("last_run"))
            late = missed(scraper, last, now) if last is not None else None
            if late is not None:
                log_event(log, "catch_up", scraper=name, scheduled=iso(late[1]))
                self._start(scraper, *late)
            upcoming[name] = next_of(scraper, now)
            self.state.set_next(name, iso(upcoming[name][1]))
        while not self.stop.is_set():
            name, (run, when) = min(upcoming.items(), key=lambda item: item[1][1])
            delay = (when - datetime.now(timezone.utc)).total_seconds()
            if delay > 0 and self.stop.wait(min(delay, 60.0)):
                break
            if when <= datetime.now(timezone.utc):
                self._start(self.scrapers[name], run, when)
                upcoming[name] = next_of(self.scrapers[name], when)
        for thread in self._threads:
            thread.join()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zarr-ingress scheduler",
        description="Fetch the endpoints file's active_scrappers on their cron schedules into the queue "
        "(see docs/operations.md, 'Scrapers and alerts').",
    )
    parser.add_argument("--run-now", metavar="NAME", help="run this scraper once, now, and exit (0: every context fetched)")
    parser.add_argument("--run", metavar="N", type=int,
                        help="with --run-now: use the constants (set:) of the scraper's runs[N], counted from 0 "
                        "(default: the run whose cron slot came last)")
    args = parser.parse_args(argv)
    environ = merged_environ()
    try:
        settings = load_settings(environ, dotenv=None)
        configure_logging(settings.log_level, settings.log_format)
        for warning in settings.config_warnings:
            log_event(log, "config_warning", logging.WARNING, warning=warning)
        policy = RetryPolicy(attempts=int(env_number(environ, "SCHEDULER_ATTEMPTS", 4, 1)),
                             backoff_seconds=env_number(environ, "SCHEDULER_BACKOFF_SECONDS", 2.0, 0))
        port = int(env_number(environ, "SCHEDULER_METRICS_PORT", DEFAULT_METRICS_PORT, 0))
        notifier = notifier_from(environ, settings.smtp, process="scheduler")
        if args.run_now is not None and args.run_now not in {s.name for s in settings.scrapers}:
            known = ", ".join(s.name for s in settings.scrapers) or "none"
            raise ConfigError(f"--run-now: no scrapper named {args.run_now!r} in {settings.endpoints_config} (known: {known})")
        if args.run is not None:
            run_count = next((len(s.runs) for s in settings.scrapers if s.name == args.run_now), None)
            if run_count is None:
                raise ConfigError("--run: only with --run-now NAME")
            if not 0 <= args.run < run_count:
                raise ConfigError(f"--run {args.run}: scrapper {args.run_now!r} has runs[0] to runs[{run_count - 1}]")
    except ConfigError as error:
        print(f"zarr-ingress scheduler: {error}", file=sys.stderr)
        return 2
    metrics = SchedulerMetrics()
    scheduler = Scheduler(settings, policy, notifier, metrics)
    if args.run_now is not None:
        scraper = scheduler.scrapers[args.run_now]
        now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        run = scraper.runs[args.run] if args.run is not None else latest_due(scraper, now)
        try:
            result = scheduler.run_once(scraper, run, now)
        finally:
            notifier.close()
        return 0 if result is not None and result.ok else 1
    if not settings.scrapers:
        log_event(log, "idle", logging.WARNING, reason="no active_scrappers: nothing to run",
                  file=settings.endpoints_config)
    metrics.serve(port, environ.get("SCHEDULER_METRICS_ADDR", "0.0.0.0"))
    notifier.start()

    def stop(signum: int, _frame: object) -> None:
        log_event(log, "stopping", signal=signal.Signals(signum).name)
        scheduler.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if not settings.scrapers:
            scheduler.stop.wait()  # idle, but up: compose and Kubernetes run it whatever the config
            return 0
        return scheduler.serve()
    finally:
        notifier.close()


if __name__ == "__main__":
    sys.exit(main())
