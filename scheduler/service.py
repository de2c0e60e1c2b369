"""One run of a scraper: expand its contexts, fetch each URL (4 at a time), enqueue each body.

Each response goes through `Queue.enqueue` exactly like an upload (durable, ordered), so the
worker cannot tell a pulled item from a pushed one; the sidecar says where it came from in
`extra`: `scraper`, `context`, `url` (secrets masked: scheduler/contexts.py) and the context again as `dataframe_row`,
the name the original server's extractors read it under. Items are enqueued in context order
once all fetches of the run are back, so a run's items keep their order in the queue.

An item that cannot be enqueued (disk full, queue folder broken) fails the run like a failed
fetch: its context and the reason are in the result, so the state file, `queue status` and the
digest say so. The run's later items are then not enqueued either: a re-run brings them in
order instead of after a gap.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from shared.config.scrapers import Run, Scraper
from shared.logs import log_event
from shared.queue import Queue, QueueError
from scheduler.contexts import expand, public_context, public_url, request_headers, request_url
from scheduler.fetch import Fetched, RetryPolicy, fetch

log = logging.getLogger("scheduler")

# The queue's format names (shared/queue/sidecar.py FORMATS); shared.binary would pull in xarray.
GRIB, GRIB_BZ2, NETCDF = "grib", "gribbz2", "netcdf"
PARALLEL_FETCHES = 4  # per scraper: polite to one vendor's API, enough for a run of 100 sites
TYPE_FORMATS = {"text/csv": "csv", "application/csv": "csv", "application/json": "json", "text/json": "json",
                "application/x-grib": GRIB, "application/grib": GRIB, "application/x-grib2": GRIB,
                "application/x-grib+bz2": GRIB_BZ2, "application/x-netcdf": NETCDF, "application/netcdf": NETCDF}
SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".nc": NETCDF, ".nc4": NETCDF,
                  **{s: GRIB for s in (".grb", ".grib", ".grb2", ".grib2")}}


@dataclass
class RunResult:
    scraper: str
    scheduled: str
    fetched: int = 0
    failures: list[tuple[dict[str, str], str, str]] = field(default_factory=list)  # (context, url, reason)
    bytes: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # fetch outcome (Fetched.outcome) -> count
    error: str = ""  # the run itself broke (not one context): why

    @property
    def ok(self) -> bool:
        return not self.failures and not self.error

    @property
    def reason(self) -> str:
        """Why the run failed, in one line ("" when it did not): the state file and `queue status` show it."""
        if self.error:
            return self.error
        if not self.failures:
            return ""
        context, _, reason = self.failures[0]
        shown = ", ".join(f"{k}={v}" for k, v in context.items())
        more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
        return f"{shown}: {reason}{more}" if shown else f"{reason}{more}"


def response_format(scraper: Scraper, fetched: Fetched, url: str) -> tuple[str, str | None]:
    """(queue format, file name): by content type, else by the URL's file name; raw for an extractor."""
    name = PurePosixPath(urlsplit(url).path).name or None
    if scraper.extractor:
        return "raw", name
    media = (fetched.content_type or "").split(";")[0].strip().lower()
    if media in TYPE_FORMATS:
        return TYPE_FORMATS[media], name
    if media.startswith("application/") and media.endswith("+json"):
        return "json", name
    suffix = PurePosixPath((name or "").lower()).suffix
    if suffix in SUFFIX_FORMATS:
        return SUFFIX_FORMATS[suffix], name
    if fetched.body.startswith(b"GRIB"):
        return GRIB, f"{name or scraper.name}.grib2"
    return "raw", name


def run_scraper(scraper: Scraper, run: Run, scheduled: datetime, queue: Queue, policy: RetryPolicy) -> RunResult:
    """Fetch every context of one run and enqueue what came back; failures are returned, not raised."""
    contexts = expand(scraper, run, scheduled)
    requests = [(context, request_url(scraper, context), request_headers(scraper, context)) for context in contexts]
    with ThreadPoolExecutor(max_workers=PARALLEL_FETCHES, thread_name_prefix=f"fetch-{scraper.name}") as pool:
        results = list(pool.map(lambda r: fetch(r[1], r[2], scraper.request.timeout_seconds, policy), requests))
    result = RunResult(scraper.name, scheduled.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    not_queued = ""  # set at the first item the queue refused: the later ones wait for a re-run
    for (context, url, _), fetched in zip(requests, results):
        shown, context = public_url(url), public_context(scraper, context)
        result.outcomes[fetched.outcome] = result.outcomes.get(fetched.outcome, 0) + 1
        if not fetched.ok:
            result.failures.append((context, shown, fetched.reason))
            log_event(log, "fetch_failed", logging.WARNING, scraper=scraper.name, url=shown, reason=fetched.reason)
            continue
        if not_queued:
            result.failures.append((context, shown, f"not queued: an earlier item of this run was not ({not_queued})"))
            continue
        fmt, filename = response_format(scraper, fetched, url)
        try:
            sidecar = queue.enqueue(
                scraper.name, fetched.body, format=fmt, node_path=scraper.target_node,
                schema_path=str(scraper.schema_path), content_type=fetched.content_type, filename=filename,
                username=scraper.username,
                extra={"scraper": scraper.name, "context": dict(context), "dataframe_row": dict(context),
                       "url": shown, "scheduled_at": result.scheduled},
            )
        except (OSError, QueueError) as error:
            not_queued = f"{type(error).__name__}: {error}"
            result.failures.append((context, shown, f"not queued: {not_queued}"))
            log_event(log, "enqueue_failed", logging.ERROR, scraper=scraper.name, url=shown, reason=not_queued)
            continue
        result.fetched += 1
        result.bytes += len(fetched.body)
        log_event(log, "accepted", upload_id=sidecar.id, endpoint=scraper.name, scraper=scraper.name, url=shown,
                  bytes=len(fetched.body))
    return result


def failure_lines(result: RunResult) -> list[str]:
    """The notification of a failed run: which contexts and why (URLs without secrets)."""
    if result.error:
        return [f"scraper {result.scraper}: run of {result.scheduled} failed: {result.error}"]
    total = result.fetched + len(result.failures)
    lines = [f"scraper {result.scraper}: run of {result.scheduled} failed for {len(result.failures)} of {total} contexts"]
    for context, url, reason in result.failures:
        shown = ", ".join(f"{k}={v}" for k, v in context.items())
        lines.append(f"scraper {result.scraper}: context {shown}: {url}: {reason}")
    return lines
