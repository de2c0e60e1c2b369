"""What the worker tells operators (shared/notify.py digests): uploads that went to failed/,
and a store unreachable for longer than NOTIFY_STORE_DOWN_MINUTES (default 15).

A store that blinks (one refused connection, a slow S3 minute) is the backoff's business, not
an operator's: only an outage that lasts past the limit is reported, once, and its end too.
"""

from __future__ import annotations

import time

from shared.notify import Notifier

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
