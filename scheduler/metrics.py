"""The scheduler's Prometheus metrics, served on SCHEDULER_METRICS_PORT (0 turns them off).

deploy/prometheus/alerts.yaml reads them (group zarr-ingress-scrapers): a scraper whose last
success is older than twice its interval, and failing fetches. Every series of a scraper
exists from the start (counters at 0, the last success as the state file has it), so an
`increase()` sees the first failure and a restart does not blank the last success.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

RUN_OUTCOMES = ("ok", "failed")
FETCH_OUTCOMES = ("ok", "http_4xx", "http_5xx", "network")  # scheduler.fetch.Fetched.outcome


class SchedulerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("zarr_ingress_scraper_runs", "Runs of a scraper by outcome (ok, failed)",
                            ["scraper", "outcome"], registry=self.registry)
        self.fetches = Counter("zarr_ingress_scraper_fetches",
                               "Fetched URLs by outcome (ok, http_4xx, http_5xx, network)",
                               ["scraper", "outcome"], registry=self.registry)
        self.bytes = Counter("zarr_ingress_scraper_bytes", "Response bytes enqueued", ["scraper"],
                             registry=self.registry)
        self.last_success = Gauge("zarr_ingress_scraper_last_success_timestamp_seconds",
                                  "Unix time of the scraper's last run with every context fetched",
                                  ["scraper"], registry=self.registry)
        self.interval = Gauge("zarr_ingress_scraper_interval_seconds",
                              "Longest gap between two scheduled runs of the scraper (its cron schedules merged)",
                              ["scraper"], registry=self.registry)

    def declare(self, scraper: str, interval_seconds: float, last_success: float | None) -> None:
        """Create the scraper's series: counters at 0, its interval, its last success if it had one."""
        for outcome in RUN_OUTCOMES:
            self.runs.labels(scraper, outcome)
        for outcome in FETCH_OUTCOMES:
            self.fetches.labels(scraper, outcome)
        self.bytes.labels(scraper)
        self.interval.labels(scraper).set(interval_seconds)
        if last_success is not None:
            self.last_success.labels(scraper).set(last_success)

    def serve(self, port: int, addr: str) -> bool:
        if port <= 0:
            return False
        start_http_server(port, addr=addr, registry=self.registry)
        return True
