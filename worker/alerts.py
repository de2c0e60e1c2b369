"""What the worker tells operators (shared/notify.py digests): uploads that went to failed/,
a store unreachable for longer than NOTIFY_STORE_DOWN_MINUTES (default 15), and loggers silent
for longer than their endpoint's `expect_every:`.

A store that blinks (one refused connection, a slow S3 minute) is the backoff's business, not
an operator's: only an outage that lasts past the limit is reported, once, and its end too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone

from shared.config.durations import format_duration
from shared.notify import Notifier
from shared.queue.loggers import LoggerBook

DEFAULT_STORE_DOWN_MINUTES = 15.0


class StoreOutage:
    """Per lane: when its store became unreachable, and whether that was reported yet."""

    def __init__(self, endpoint: str, notifier: Notifier | None, limit_seconds: float) -> None:
        self.endpoint = endpoint
        self.notifier = notifier
        self.limit_seconds = limit_seconds
        self.since: float | None = None
        self.reported = False

    def trouble(self, error: str) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        elif not self.reported and now - self.since >= self.limit_seconds and self.notifier is not None:
            self.notifier.add(f"worker: the store of endpoint {self.endpoint} has been unreachable for "
                              f"{(now - self.since) / 60:.0f} min; uploads wait in accepted/: {error}")
            self.reported = True

    def ok(self) -> None:
        if self.reported and self.since is not None and self.notifier is not None:
            self.notifier.add(f"worker: the store of endpoint {self.endpoint} is reachable again after "
                              f"{(time.monotonic() - self.since) / 60:.0f} min")
        self.since, self.reported = None, False


class SilenceWatch:
    """Loggers silent for longer than their endpoint's `expect_every:`, reported once per silence.

    A silence is known by the last upload before it (`at` in QUEUE_DIR/loggers/silence.json):
    the same silence is never reported twice, not even by a restarted worker, and the first
    upload after it ends it (said once too). The records are the gateway's (shared/queue/loggers.py).
    """

    def __init__(self, book: LoggerBook, expected: Mapping[str, float], notifier: Notifier | None) -> None:
        self.book = book
        self.expected = dict(expected)
        self.notifier = notifier

    def check(self, now: float | None = None) -> None:
        if not self.expected or self.notifier is None or not self.notifier.enabled:
            return
        now = time.time() if now is None else now
        # Under the book's lock: a logger forgotten meanwhile (`queue loggers --forget`) must not
        # be written back into the silences from this check's older reading.
        with self.book.locked():
            self._check(now)

    def _check(self, now: float) -> None:
        reported = self.book.read_silences()
        silences: dict[str, dict[str, float]] = {}
        for upload in self.book.read():
            limit = self.expected.get(upload.endpoint)
            if limit is None:
                continue
            before = reported.get(upload.endpoint, {}).get(upload.logger)
            who = f"logger {upload.logger!r} of endpoint {upload.endpoint}"
            if before is not None and before != upload.at:
                # An upload after the reported silence ended it, even when the check comes so
                # late that the logger is silent again by now (then that is a new silence, below).
                self.notifier.add(f"worker: {who} sends again ({_stamp(upload.at)}) after "
                                  f"{format_duration(upload.at - before)} without uploads")
            if upload.silent_seconds(now) > limit:
                silences.setdefault(upload.endpoint, {})[upload.logger] = upload.at
                if before != upload.at:
                    rows = "" if upload.rows is None else f", {upload.rows} rows"
                    self.notifier.add(
                        f"worker: {who} has sent nothing for {format_duration(upload.silent_seconds(now))} "
                        f"(expect_every {format_duration(limit)}; last upload {_stamp(upload.at)}{rows})")
        if silences != reported:
            self.book.write_silences(silences)


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
