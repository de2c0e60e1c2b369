"""``python -m worker`` (``zarr-ingress worker``): run the worker until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Mapping

from shared.config import ConfigError, Settings, load_settings, merged_environ
from shared.schema_file import WatchedSchema, force_reload
from shared.fuse.errors import SchemaError
from shared.notify import notifier_from
from shared.plugins import load_extractors

from worker.alerts import DEFAULT_STORE_DOWN_MINUTES
from worker.lane import LaneConfig
from worker.pacing import PaceConfig
from shared.logs import configure_logging, log_event
from worker.payloads import PayloadReader
from worker.service import Worker

log = logging.getLogger("worker")


def load_schemas(settings: Settings) -> dict[str, object]:
    """Every endpoint's schema, watched for changes (each lane reloads at each batch); an invalid
    one at start stops the worker (SchemaError), an invalid new version later is refused.
    Warnings are logged here, once per start (and by WatchedSchema at each reload), and never
    stop it."""
    schemas = {endpoint.name: WatchedSchema(endpoint.schema_path) for endpoint in settings.queue_endpoints}
    for name, watched in schemas.items():
        for warning in watched.schema.warnings:
            log_event(log, "schema_warning", logging.WARNING, endpoint=name, warning=warning)
    return schemas


def env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {text!r}") from None


def env_minutes(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ConfigError(f"{name}: expected a number of minutes, got {text!r}") from None
    if not value > 0:
        raise ConfigError(f"{name}: {value:g} must be above 0 minutes")
    return value


def env_number(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {text!r}") from None
    if not low < value <= high:
        most = f" and at most {high:g}" if high != float("inf") else ""
        raise ConfigError(f"{name}: {value:g} must be above {low:g}{most}")
    return value


def pace_config(environ: Mapping[str, str], queue_max_items: int) -> PaceConfig:
    """Not Settings fields (like WORKER_NICE): tuning for a worker sharing a machine with a gateway.
    The backlog past which pacing stops is half of QUEUE_MAX_ITEMS unless WORKER_BUSY_BACKLOG
    says otherwise: the queue never fills up because the worker was holding back."""
    default = PaceConfig()
    backlog = env_int(environ, "WORKER_BUSY_BACKLOG", queue_max_items // 2)
    if backlog < 0:
        raise ConfigError(f"WORKER_BUSY_BACKLOG: {backlog} must be 0 or more waiting items")
    return PaceConfig(
        busy_uploads=env_number(environ, "WORKER_BUSY_UPLOADS", default.busy_uploads, 0, float("inf")),
        share=env_number(environ, "WORKER_BUSY_SHARE", default.share, 0, 1),
        max_backlog=backlog,
    )


def payload_readers(settings: Settings) -> dict[str, PayloadReader]:
    """Every endpoint's reader; every configured extractor imported and checked (ConfigError)."""
    extractors = load_extractors(settings.queue_endpoints)
    return {e.name: PayloadReader(e, extractors.get(e.name)) for e in settings.queue_endpoints}


def build_worker(settings: Settings, environ: Mapping[str, str]) -> Worker:
    config = LaneConfig(
        batch_items=settings.worker_batch_items,
        batch_rows=settings.worker_batch_rows,
        poll_seconds=settings.worker_poll_seconds,
        retry_max_seconds=settings.worker_retry_max_seconds,
        # Not a Settings field (like WORKER_NICE): a tuning knob for machines shared with a gateway.
        move_threads=env_int(environ, "WORKER_MOVE_THREADS", 8),
    )
    return Worker(
        settings.queue_dir,
        load_schemas(settings),
        config,
        done_retention_days=settings.done_retention_days,
        metrics_port=settings.worker_metrics_port,
        # Not a Settings field: the bind address only matters where 0.0.0.0 is unwanted (tests).
        metrics_addr=environ.get("WORKER_METRICS_ADDR", "0.0.0.0"),
        environ=environ,
        readers=payload_readers(settings),
        notifier=notifier_from(environ, settings.smtp, process="worker"),
        store_down_seconds=60 * env_minutes(environ, "NOTIFY_STORE_DOWN_MINUTES", DEFAULT_STORE_DOWN_MINUTES),
        expected_intervals={e.name: e.expect_every for e in settings.endpoints if e.expect_every},
        pacing=pace_config(environ, settings.queue_max_items),
    )


def lower_priority(environ: Mapping[str, str]) -> None:
    """Merging is background work: on a machine shared with the gateway, the gateway's requests
    come first (the worker catches up; loggers cannot wait). WORKER_NICE=0 turns this off."""
    try:
        os.nice(max(0, int(environ.get("WORKER_NICE", "10"))))
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="zarr-ingress worker",
        description="Merge queued uploads, in acceptance order, into their Zarr stores until SIGTERM/SIGINT. "
        "Settings come from the environment and .env (see docs/operations.md).",
    ).parse_args(argv)
    environ = merged_environ()  # .env counts for the stores' location and credentials too
    try:
        settings = load_settings(environ, dotenv=None)
        configure_logging(settings.log_level, settings.log_format)
        for warning in settings.config_warnings:
            log_event(logging.getLogger("worker"), "config_warning", logging.WARNING, warning=warning)
        worker = build_worker(settings, environ)
    except (ConfigError, SchemaError) as error:
        print(f"zarr-ingress worker: {error}", file=sys.stderr)
        return 2

    lower_priority(environ)

    def stop(signum: int, _frame: object) -> None:
        worker.request_stop(signal.Signals(signum).name)

    def reload(_signum: int, _frame: object) -> None:
        force_reload()  # the lanes read their schema files at their next batch
        worker.wake_lanes()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    return worker.run()


def exit_now(code: int) -> None:
    """End the process without the interpreter's teardown: after a clean stop everything is on
    disk and the lock released, and tearing down pandas, xarray, zarr and pint took 2-4 s of CPU
    (more at the worker's nice level on a busy machine), most of a Ctrl-C of `make run`."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
