"""Fetching one URL with the scheduler's retry policy.

* 429 and 503: wait what `Retry-After` says (seconds or an HTTP date, capped), then try again;
* other 5xx and network errors (refused, reset, timeout): exponential backoff;
* any other 4xx: no retry, the request itself is wrong (a 404 stays a 404);
* at most `attempts` tries in all, so a run always ends.
"""

from __future__ import annotations

import email.utils
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

RETRY_AFTER_STATUSES = (429, 503)
MAX_RETRY_AFTER_SECONDS = 300.0
MAX_BODY_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_seconds: float = 2.0  # first wait after a 5xx or network error; doubled each time


@dataclass(frozen=True)
class Fetched:
    """What one URL gave: a body (ok), or the reason it did not (status or error text)."""

    ok: bool
    body: bytes = b""
    content_type: str | None = None
    status: int | None = None
    reason: str = ""
    attempts: int = 0

    @property
    def outcome(self) -> str:
        """The metrics label: ok, http_4xx, http_5xx or network."""
        if self.ok:
            return "ok"
        if self.status is None:
            return "network"
        return "http_4xx" if self.status < 500 else "http_5xx"


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER_SECONDS)


def fetch(url: str, headers: dict[str, str], timeout: float, policy: RetryPolicy,
          sleep=time.sleep) -> Fetched:
    reason, status = "", None
    for attempt in range(1, policy.attempts + 1):
        wait = policy.backoff_seconds * 2 ** (attempt - 1)
        try:
            request = urllib.request.Request(url, headers=headers, method="GET")
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http/https only, checked at start)
                body = response.read(MAX_BODY_BYTES + 1)
                if len(body) > MAX_BODY_BYTES:
                    return Fetched(False, status=response.status, attempts=attempt,
                                   reason=f"response larger than {MAX_BODY_BYTES} bytes")
                return Fetched(True, body, response.headers.get("Content-Type"), response.status, "", attempt)
        except urllib.error.HTTPError as error:
            status, reason = error.code, f"HTTP {error.code} {error.reason}"
            if error.code < 500 and error.code not in RETRY_AFTER_STATUSES:
                return Fetched(False, status=status, reason=reason, attempts=attempt)
            if error.code in RETRY_AFTER_STATUSES:
                told = retry_after_seconds(error.headers.get("Retry-After"))
                wait = told if told is not None else wait
        except (urllib.error.URLError, OSError, socket.timeout) as error:
            status = None
            cause = getattr(error, "reason", error)
            reason = f"network error: {cause}"
        if attempt < policy.attempts:
            sleep(wait)
    return Fetched(False, status=status, reason=f"{reason} (after {policy.attempts} attempts)",
                   attempts=policy.attempts)
