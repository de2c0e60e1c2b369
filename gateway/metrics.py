"""Prometheus metrics of the gateway (`GET /metrics`).

* `zarr_ingress_gateway_uploads_total{endpoint, status}`: upload requests answered, by HTTP status
  (202 accepted, anything else rejected). Under gunicorn each worker process counts on its own;
  prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, prepared by
  `gateway/gunicorn_conf.py`) adds them up at scrape time, whichever worker answers the scrape.
* `zarr_ingress_gateway_ignored_columns_total{endpoint}`: columns of accepted uploads that the
  node's schema does not know (recorded on each item as `ignored_columns`; not a label per name,
  which a client could make unbounded).
* `zarr_ingress_queue_depth{endpoint}` and `zarr_ingress_queue_oldest_age_seconds{endpoint}`:
  read from the queue directory at scrape time, so they are the same from every process; so are
  `zarr_ingress_queue_failed_items{endpoint}` (items in failed/), `zarr_ingress_queue_free_bytes`
  (free space on the queue's filesystem) and `zarr_ingress_worker_heartbeat_age_seconds` (age of
  the worker's heartbeat file; +Inf when no worker has ever written one), which the alert rules
  in `deploy/prometheus/alerts.yaml` read.
* `zarr_ingress_logger_last_upload_timestamp_seconds{endpoint, logger}` and
  `zarr_ingress_logger_last_upload_rows{endpoint, logger}`: the last accepted upload of each
  logger, read at scrape time from `QUEUE_DIR/loggers/last_uploads.json` (shared/queue/loggers.py),
  which every gateway process writes, so every process answers the same; and
  `zarr_ingress_logger_expected_interval_seconds{endpoint}`, an endpoint's `expect_every:`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from shared.queue import FAILED, Queue, id_time
from shared.queue.loggers import LoggerBook
from shared.queue.heartbeat import read_heartbeat

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class QueueCollector:
    """Queue depth and age of the oldest waiting item per endpoint, computed per scrape."""

    def __init__(self, queue: Queue, endpoints: Iterable[str]) -> None:
        self.queue = queue
        self.endpoints = tuple(endpoints)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "zarr_ingress_queue_depth", "Items waiting (accepted or active) per endpoint", labels=["endpoint"]
        )
        age = GaugeMetricFamily(
            "zarr_ingress_queue_oldest_age_seconds", "Age of the oldest waiting item per endpoint",
            labels=["endpoint"],
        )
        waiting = self.queue.waiting_by_endpoint()
        now = time.time()
        for endpoint in sorted(set(self.endpoints) | set(waiting)):
            count, oldest = waiting.get(endpoint, (0, None))
            depth.add_metric([endpoint], count)
            age.add_metric([endpoint], now - id_time(oldest).timestamp() if oldest else 0.0)
        yield depth
        yield age

        failed = GaugeMetricFamily(
            "zarr_ingress_queue_failed_items", "Items in failed/ per endpoint", labels=["endpoint"]
        )
        failed_counts = self.queue.counts().get(FAILED, {})
        for endpoint in sorted(set(self.endpoints) | set(failed_counts)):
            failed.add_metric([endpoint], failed_counts.get(endpoint, 0))
        yield failed
        yield GaugeMetricFamily(
            "zarr_ingress_queue_free_bytes", "Free bytes on the queue's filesystem", value=self.queue.free_bytes()
        )
        heartbeat = read_heartbeat(self.queue.root)
        yield GaugeMetricFamily(
            "zarr_ingress_worker_heartbeat_age_seconds",
            "Seconds since the worker holding the queue last wrote its heartbeat (+Inf: never)",
            value=heartbeat.age_seconds() if heartbeat else float("inf"),
        )


class LoggerCollector:
    """The last upload per endpoint and logger, and the interval each endpoint expects, per scrape."""

    def __init__(self, book: LoggerBook, expected: Mapping[str, float]) -> None:
        self.book = book
        self.expected = dict(expected)

    def collect(self) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "zarr_ingress_logger_last_upload_timestamp_seconds",
            "Time of the last accepted upload per endpoint and logger (user, or device of a webhook)",
            labels=["endpoint", "logger"],
        )
        rows = GaugeMetricFamily(
            "zarr_ingress_logger_last_upload_rows", "Rows of the last accepted upload per endpoint and logger",
            labels=["endpoint", "logger"],
        )
        for upload in sorted(self.book.read(), key=lambda u: (u.endpoint, u.logger)):
            last.add_metric([upload.endpoint, upload.logger], upload.at)
            if upload.rows is not None:
                rows.add_metric([upload.endpoint, upload.logger], upload.rows)
        yield last
        yield rows
        expected = GaugeMetricFamily(
            "zarr_ingress_logger_expected_interval_seconds",
            "An endpoint's expect_every: a logger silent for longer is alerted on", labels=["endpoint"],
        )
        for endpoint, seconds in sorted(self.expected.items()):
            expected.add_metric([endpoint], seconds)
        yield expected


class GatewayMetrics:
    def __init__(self, queue: Queue, endpoints: Iterable[str], book: LoggerBook | None = None,
                 expected: Mapping[str, float] | None = None) -> None:
        disable_created_metrics()  # *_created series only add noise for operators
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.queue_collector = QueueCollector(queue, endpoints)
        self.logger_collector = LoggerCollector(book or LoggerBook(queue.root), expected or {})
        self.uploads = Counter(
            "zarr_ingress_gateway_uploads", "Upload requests answered, by endpoint and HTTP status",
            ["endpoint", "status"], registry=self.registry,
        )
        self.ignored_columns = Counter(
            "zarr_ingress_gateway_ignored_columns", "Columns of accepted uploads unknown to the schema (ignored)",
            ["endpoint"], registry=self.registry,
        )
        if not self.multiprocess:
            self.registry.register(self.queue_collector)
            self.registry.register(self.logger_collector)

    def count_upload(self, endpoint: str, status: int) -> None:
        self.uploads.labels(endpoint=endpoint, status=str(status)).inc()

    def count_ignored_columns(self, endpoint: str, columns: int) -> None:
        self.ignored_columns.labels(endpoint=endpoint).inc(columns)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(self.queue_collector)
        registry.register(self.logger_collector)
        return generate_latest(registry)
