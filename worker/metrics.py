"""The worker's own Prometheus metrics, served on WORKER_METRICS_PORT (0 turns them off)."""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from shared.logs import log_event

log = logging.getLogger("worker.metrics")


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.merged = Counter(
            "zarr_ingress_worker_merged", "Uploads merged into their store", ["endpoint"], registry=self.registry
        )
        self.failed = Counter(
            "zarr_ingress_worker_failed", "Uploads moved to failed/", ["endpoint"], registry=self.registry
        )
        self.retried = Counter(
            "zarr_ingress_worker_retried", "Uploads put back in the queue after transient trouble",
            ["endpoint"], registry=self.registry,
        )
        self.ignored_columns = Counter(
            "zarr_ingress_worker_ignored_columns", "Columns of merged uploads the node's schema does not know",
            ["endpoint"], registry=self.registry,
        )
        self.merge_seconds = Histogram(
            "zarr_ingress_worker_merge_seconds", "Duration of one batch merge (prepare + write)", ["endpoint"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry,
        )
        self.batch_items = Histogram(
            "zarr_ingress_worker_batch_items", "Uploads merged per batch", ["endpoint"],
            buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 5000), registry=self.registry,
        )
        self.last_merge = Gauge(
            "zarr_ingress_worker_last_merge_timestamp_seconds", "Unix time of the last successful merge per endpoint",
            ["endpoint"], registry=self.registry,
        )
        self.store_errors = Counter(
            "zarr_ingress_worker_store_errors", "Failed attempts to open or write an endpoint's store (retried)",
            ["endpoint"], registry=self.registry,
        )
        self.paced_seconds = Counter(
            "zarr_ingress_worker_paced_seconds", "Seconds the lanes paused between batches to leave the CPUs to "
            "the gateway while uploads poured in (worker/pacing.py)", registry=self.registry,
        )
        self.waiting = Gauge(
            "zarr_ingress_worker_waiting", "Uploads not yet merged (accepted or active)", ["endpoint"], registry=self.registry
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> bool:
        if port <= 0:
            return False
        try:
            start_http_server(port, addr=addr, registry=self.registry)
        except OSError as error:  # metrics must never stop the merging
            log_event(log, "metrics_unavailable", logging.WARNING, port=port, error=error)
            return False
        log_event(log, "metrics_serving", addr=addr, port=port)
        return True
