"""The scheduler's Prometheus metrics, served on SCHEDULER_METRICS_PORT (0 turns them off)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


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

    def serve(self, port: int, addr: str) -> bool:
        if port <= 0:
            return False
        start_http_server(port, addr=addr, registry=self.registry)
        return True
