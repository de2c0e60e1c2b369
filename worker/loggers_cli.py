"""``zarr-ingress queue loggers``: who sent what last, the longest silent first.

    loggers [--silent-for 2h] [--endpoint E] [--json]
    loggers --forget ENDPOINT LOGGER    a retired logger: no longer listed, counted or alerted

One line per endpoint and logger (the user, or a webhook's device): its last accepted upload
(ISO 8601 UTC), how long it has been silent, the rows of that upload, and the endpoint's
`expect_every:` when the settings can be read. The records are the gateway's
(`QUEUE_DIR/loggers/last_uploads.json`, shared/queue/loggers.py). `--forget` removes one
logger's record and its silence; an upload of it after that brings it back. An unknown name
exits 1 naming what is recorded.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from shared.config import ConfigError, load_settings
from shared.config.durations import EXAMPLES, format_duration, parse_duration
from shared.queue import Queue
from shared.queue.heartbeat import utc_stamp
from shared.queue.loggers import LoggerBook, UnknownLogger


def duration_argument(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    loggers = commands.add_parser("loggers", parents=[common],
                                  help="last upload per endpoint and logger, the longest silent first")
    loggers.add_argument("--silent-for", type=duration_argument, metavar="DURATION",
                         help=f"only loggers silent for at least DURATION ({EXAMPLES})")
    loggers.add_argument("--endpoint", help="only this endpoint's loggers")
    loggers.add_argument("--forget", nargs=2, metavar=("ENDPOINT", "LOGGER"),
                         help="remove a retired logger's record and silence (an upload of it later brings it back)")


def expected_intervals() -> Mapping[str, float]:
    """Each endpoint's `expect_every:` in seconds; none when the settings cannot be read here."""
    try:
        return {e.name: e.expect_every for e in load_settings().endpoints if e.expect_every}
    except ConfigError:
        return {}


def shown(logger: str) -> str:
    """A device id comes from a request body: escape what would garble the operator's terminal."""
    return logger if logger.isprintable() and " " not in logger else ascii(logger)


def cmd_loggers(queue: Queue, args: argparse.Namespace) -> int:
    from worker.queue_cli import table  # the CLI's one table layout

    now = time.time()
    if args.forget:
        return forget(LoggerBook(queue.root), *args.forget, now=now, as_json=args.json)
    expected = expected_intervals()
    uploads = [u for u in LoggerBook(queue.root).read()
               if (args.endpoint is None or u.endpoint == args.endpoint)
               and (args.silent_for is None or u.silent_seconds(now) >= args.silent_for)]
    uploads.sort(key=lambda u: (u.at, u.endpoint, u.logger))  # the longest silent first
    records = [{
        "endpoint": u.endpoint, "logger": u.logger,
        "last_upload": utc_stamp(datetime.fromtimestamp(u.at, timezone.utc)),
        "silent_seconds": round(u.silent_seconds(now), 3), "rows": u.rows,
        "expect_every_seconds": expected.get(u.endpoint),
    } for u in uploads]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    if not records:
        print("no loggers" + (" silent that long" if args.silent_for is not None else " recorded yet"))
        return 0
    print(table(("ENDPOINT", "LOGGER", "LAST UPLOAD (UTC)", "SILENT FOR", "ROWS", "EXPECTS EVERY"), (
        (r["endpoint"], shown(r["logger"]), r["last_upload"], format_duration(r["silent_seconds"]),
         "" if r["rows"] is None else r["rows"],
         format_duration(r["expect_every_seconds"]) if r["expect_every_seconds"] else "")
        for r in records)))
    return 0


def forget(book: LoggerBook, endpoint: str, logger: str, *, now: float, as_json: bool) -> int:
    try:
        removed = book.forget(endpoint, logger, now)
    except UnknownLogger as error:
        print(f"zarr-ingress queue: loggers --forget: {error}", file=sys.stderr)
        return 1
    last = utc_stamp(datetime.fromtimestamp(removed.at, timezone.utc))
    if as_json:
        print(json.dumps({"forgotten": {"endpoint": endpoint, "logger": logger, "last_upload": last}}))
    else:
        print(f"forgot logger {shown(logger)} of endpoint {endpoint} (last upload {last}, silent for "
              f"{format_duration(removed.silent_seconds(now))}); an upload of it from now on lists it again")
    return 0
