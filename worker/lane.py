"""One endpoint's lane: its waiting items, merged in id order into its store.

Each lane runs in its own thread with its own backoff, so one endpoint whose store is down
never blocks another (DESIGN.md section 3, rule 3). The store is opened once and kept open;
it is reopened only after a store error.

A batch goes through: plan (read and count each item) -> parse and convert the batch as one
table -> one merge -> its completion record made durable (``Queue.commit_batch``, in the lane's
thread: the next batch never merges before it) -> the moves to done/ (``Queue.finish_batch``, in
the completion thread, overlapping the next batch's reading, converting and merging). When the
batch as a whole holds bad data, the lane parses and converts item by item instead, so a bad
upload fails alone and the rest still merges. A crash before the batch's completion record is
durable leaves all its items in accepted/, and the next start merges them again (an idempotent
upsert, rule 4); a crash after it finishes the moves from the record, so an earlier item is never
merged again on top of a later one.

The lane keeps its state for operators (`report()`, written into the heartbeat and shown by
`queue status`): "ok", or "store unreachable" since the first failure of a run of them, with
the reason; and the store call it is in right now, with its start, so a hung store shows.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback as tb
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping

from shared.fuse import open_store
from shared.formats import header_columns
from shared.notify import Notifier
from shared.queue import Queue
from shared.queue.heartbeat import utc_stamp
from shared.schema_file import current

from worker.alerts import DEFAULT_STORE_DOWN_MINUTES, StoreOutage
from worker.batching import Entry, batch_table, plan_batch
from worker.finishes import IN_FLIGHT, Finish, Finishes
from worker.metrics import WorkerMetrics
from worker.policy import Backoff, Verdict, classify, gives_up
from shared.logs import log_event
from worker.pacing import Pacer
from worker.payloads import PayloadReader
from worker.readahead import ReadAhead

log = logging.getLogger("worker.lane")
SCAN_BATCHES = 5
SCAN_MIN = 1000


def one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text}" if classify(error) is Verdict.UNEXPECTED else text


@dataclass
class LaneConfig:
    batch_items: int
    batch_rows: int
    poll_seconds: float
    retry_max_seconds: float
    retry_base_seconds: float = 1.0
    # Threads for a batch completion's sidecar fsyncs: concurrent fsyncs share one filesystem
    # commit, so more threads complete faster but compete harder with the gateway's own fsyncs
    # on a shared disk (docs/operations.md).
    move_threads: int = 8


@dataclass
class _Outcome:
    """What became of a batch: merged entries, entries left waiting for a retry, the trouble seen."""

    merged: list[Entry] = field(default_factory=list)
    release: list[Entry] = field(default_factory=list)
    trouble: BaseException | None = None
    trouble_traceback: str = ""


class Lane(threading.Thread):
    def __init__(
        self,
        endpoint: str,
        schema: Any,
        queue: Queue,
        config: LaneConfig,
        metrics: WorkerMetrics,
        stop: threading.Event,
        environ: Mapping[str, str] | None = None,
        reader: PayloadReader | None = None,
        notifier: Notifier | None = None,
        store_down_seconds: float = DEFAULT_STORE_DOWN_MINUTES * 60,
        pacer: Pacer | None = None,
    ) -> None:
        super().__init__(name=f"lane-{endpoint}", daemon=True)
        self.pacer = pacer  # ingest first: pauses between batches while uploads pour in
        self.notifier = notifier
        self.outage = StoreOutage(endpoint, notifier, store_down_seconds)
        self.reader = reader or PayloadReader()  # payload -> table: parser, binary or extractor
        self.endpoint = endpoint
        self.watched = schema  # a WatchedSchema (reloaded when its file changes) or a fixed Schema
        self.schema = current(schema)
        self.queue = queue
        self.config = config
        self.metrics = metrics
        self.stop = stop
        self.environ = environ
        self.wake_event = threading.Event()
        self.backoff = Backoff(base=config.retry_base_seconds, cap=config.retry_max_seconds)
        self.resume_at = 0.0  # time.monotonic() before which the lane does not touch its store
        self.solo_through = ""  # items with ids <= this merge one at a time (isolating a culprit)
        self._root: Any = None
        self._nodes: dict[str, Any] = {}
        self._tries: dict[str, int] = {}  # failed attempts in this process, by upload id
        self.state, self.state_since, self.state_reason = "ok", datetime.now(timezone.utc), ""
        self.busy: tuple[str, float, datetime] | None = None  # (what, monotonic start, UTC start)
        self._finishes = Finishes(endpoint, queue, config.move_threads)  # committed batches -> done/
        self._read_ahead = ReadAhead(endpoint)  # sidecars and payloads, read while the lane merges

    # -- thread plumbing ------------------------------------------------------------------------
    def wake(self) -> None:
        self.wake_event.set()

    def run(self) -> None:
        while not self.stop.is_set():
            pause = self.resume_at - time.monotonic()
            if pause > 0:
                # Backing off: arrivals during the pause need no wake-up, the next scan sees them.
                self.wake_event.clear()
                if not self.stop.is_set():
                    self.wake_event.wait(pause)
                continue
            # Cleared before the scan, so an arrival during the scan or the merge is not missed.
            self.wake_event.clear()
            try:
                self.drain_once()
            except Exception as error:  # a bug in the loop itself: keep the lane alive, slowly
                log_event(log, "lane_error", logging.ERROR, endpoint=self.endpoint, error=one_line(error),
                          exc_info=True)
                self._pause(error)
            if self.resume_at <= time.monotonic():
                self.wake_event.wait(self.config.poll_seconds)
        with contextlib.suppress(Exception):
            self._settle()
        self._forget_store()
        self._finishes.shutdown()
        self._read_ahead.shutdown()

    def drain_once(self) -> None:
        """Merge everything waiting, scan window after scan window, until done, paused or stopped."""
        limit = max(SCAN_BATCHES * self.config.batch_items, SCAN_MIN)
        while not self.stop.is_set() and self.resume_at <= time.monotonic():
            # A bounded scan: reading 10,000 sidecars to merge the first 200 would dominate a
            # backlog. Before it every finish is through: a committed batch's items still in
            # accepted/ would be merged again, and roll_forward must not race a finish. A
            # completion that failed half-way (a full disk, say) is finished first: its batch was
            # merged, and merging its waiting tail again on top of later batches would break order.
            self._settle()
            self.queue.roll_forward(self.endpoint)
            items = self.queue.scan(self.endpoint, limit=limit, pool=self._read_ahead.pool)
            self._merge_window(items)
            # A full window means more may wait: scan again now, not after a poll interval.
            if len(items) < limit:
                break
        self._settle()
        self._read_ahead.forget()

    def _merge_window(self, items: list[Any]) -> None:
        while items and not self.stop.is_set() and self.resume_at <= time.monotonic():
            self._reload_schema()
            if self._store() is None:
                return
            solo = items[0].sidecar.id <= self.solo_through
            most = 1 if solo else self.config.batch_items
            if self.pacer is not None:
                most = self.pacer.batch_items(most)
            self._read_ahead.start(items[:most])
            batch = plan_batch(items, self._read_ahead.payload, most, self.config.batch_rows)
            items = items[len(batch):]
            self._read_ahead.start(items[:most])  # read while this batch merges
            self.process(batch)
            if self.pacer is not None and self.pacer.pause_for() > 0:
                self._settle()  # the batch's moves to done/ are through and logged before the pause
                self.pacer.pace(self.stop)  # after the batch's completion record: nothing half done

    # -- state for operators --------------------------------------------------------------------
    def report(self) -> dict[str, str | None]:
        """The lane's state as the heartbeat carries it (plain strings, RFC 3339 times)."""
        busy = self.busy
        return {"state": self.state, "since": utc_stamp(self.state_since), "reason": self.state_reason or None,
                "busy": busy[0] if busy else None, "busy_since": utc_stamp(busy[2]) if busy else None}

    def busy_seconds(self) -> float:
        busy = self.busy
        return time.monotonic() - busy[1] if busy else 0.0

    @contextlib.contextmanager
    def _calling_store(self, what: str):
        self.busy = (what, time.monotonic(), datetime.now(timezone.utc))
        try:
            yield
        finally:
            self.busy = None

    def _store_reached(self) -> None:
        if self.state != "ok":
            self.state, self.state_since, self.state_reason = "ok", datetime.now(timezone.utc), ""
        self.outage.ok()

    def _store_unreachable(self, error: BaseException) -> None:
        if self.state != "store unreachable":  # the first failure of a run says since when
            self.state_since = datetime.now(timezone.utc)
        self.state, self.state_reason = "store unreachable", one_line(error)
        self.outage.trouble(one_line(error))

    def _reload_schema(self) -> None:
        # At each batch: a fixed schema file is in force for the next merge (then `queue retry`
        # just works); an invalid new version was refused by WatchedSchema and the old one stays.
        schema = current(self.watched)
        if schema is not self.schema:
            self._settle()  # the batches merged under the old schema complete first
            self.schema = schema
            self._forget_store()
            self.solo_through = ""
            log_event(log, "schema_in_force", endpoint=self.endpoint, file=getattr(self.watched, "path", ""))

    # -- the store ------------------------------------------------------------------------------
    def _store(self) -> Any:
        if self._root is None:
            try:
                with self._calling_store("opening the store"):
                    self._root = open_store(self.schema, environ=self.environ)
                self._nodes = {}
                self._store_reached()
                log_event(log, "store_opened", endpoint=self.endpoint)
            except Exception as error:
                # The items simply wait in accepted/. Logged once per attempt.
                self.metrics.store_errors.labels(self.endpoint).inc()
                if classify(error) is Verdict.TRANSIENT:
                    self._store_unreachable(error)
                delay = self._pause(error)
                log_event(
                    log, "store_unavailable", logging.WARNING, endpoint=self.endpoint,
                    retry_in=f"{delay:.1f}s", error=one_line(error),
                )
                return None
        return self._root

    def _node(self, node_path: str) -> Any:
        if node_path not in self._nodes:
            self._nodes[node_path] = self._root[node_path] if node_path else self._root
        return self._nodes[node_path]

    def _forget_store(self) -> None:
        # After a store error the engine's in-memory view may not match the store: reopen.
        if self._root is not None:
            with contextlib.suppress(Exception):  # releasing connections; the store may be gone
                self._root.close()
        self._root = None
        self._nodes = {}

    def _pause(self, error: BaseException) -> float:
        delay = self.backoff.next_delay()
        self.resume_at = time.monotonic() + delay
        return delay

    # -- one batch ------------------------------------------------------------------------------
    def process(self, batch: list[Entry]) -> None:
        # Items are merged straight from accepted/ (no claim into active/): a claim costs as many
        # fsyncs as the completion, and buys nothing here; a worker that dies mid-batch leaves
        # the items where they were, and the next one merges them again (idempotent upsert).
        batch_id = batch[0].item.sidecar.id
        started = time.perf_counter()
        outcome = self._merge_whole(batch)
        if outcome is None:
            outcome = self._merge_item_by_item(batch)
        seconds = time.perf_counter() - started

        if outcome.merged:
            self.metrics.merge_seconds.labels(self.endpoint).observe(seconds)
            self.metrics.batch_items.labels(self.endpoint).observe(len(outcome.merged))
            # The record is durable before the next batch merges, so no batch is ever written
            # ahead of an earlier one that a crash could leave in accepted/ (it would be merged
            # again after it). The moves to done/ need not be: the record finishes them.
            committed = self.queue.commit_batch(
                [self._counted(entry) for entry in outcome.merged],
                [{"rows": entry.rows, **self._ignored(entry)} for entry in outcome.merged], batch_id,
            )
            self._finishes.start(committed, outcome.merged, batch_id, seconds)
            self._settle(keep=IN_FLIGHT)
            if outcome.trouble is None:
                self.backoff.reset()
                self._store_reached()

        if outcome.trouble is not None:
            self._settle()
            self._put_back(outcome)

    def _settle(self, keep: int = 0) -> None:
        """Wait for the moves to done/ of merged batches until at most `keep` are under way (the
        ones already through are logged whatever `keep` is)."""
        self._finishes.settle(self._log_merged, keep)

    def _log_merged(self, completion: Finish) -> None:
        self.metrics.last_merge.labels(self.endpoint).set_to_current_time()
        for entry in completion.entries:
            self.metrics.merged.labels(self.endpoint).inc()
            ignored = {"ignored_columns": ",".join(entry.item.sidecar.ignored_columns)} \
                if entry.item.sidecar.ignored_columns else {}
            log_event(
                log, "merged", upload_id=entry.item.sidecar.id, endpoint=self.endpoint,
                node=entry.item.sidecar.node_path or "/", rows=entry.rows, batch=completion.batch_id,
                batch_items=len(completion.entries), seconds=f"{completion.seconds:.3f}", **ignored,
            )

    def _merge_whole(self, batch: list[Entry]) -> _Outcome | None:
        """Parse and convert the batch as one table; None when bad data needs the item-by-item path."""
        if len(batch) == 1:
            return None
        try:
            node = self._node(batch[0].item.sidecar.node_path)
            prepared = node.prepare(batch_table(batch))
        except Exception as error:
            if classify(error) is Verdict.TRANSIENT:
                return _Outcome(release=batch, trouble=error, trouble_traceback=tb.format_exc())
            return None  # bad data somewhere (or a surprise): find out which item, one by one
        return self._merge(batch, [prepared], rest=[], trouble=None, trace="")

    def _merge_item_by_item(self, batch: list[Entry]) -> _Outcome:
        good: list[Entry] = []
        prepared: list[Any] = []
        for position, entry in enumerate(batch):
            try:
                node = self._node(entry.item.sidecar.node_path)
                table = entry.table
                if table is None:
                    table = self.reader.table(entry.payload, entry.item.sidecar, node.schema)
                entry.rows = len(table)
                prepared.append(node.prepare(table))
                good.append(entry)
                continue
            except Exception as caught:
                error, trace = caught, tb.format_exc()
            if gives_up(classify(error), self._attempts(entry)):
                self._fail(entry, error, trace)
                continue
            # Transient or retryable trouble: this item and everything after it go back, in
            # order; the items before it still merge now.
            return self._merge(good, prepared, rest=batch[position:], trouble=error, trace=trace)
        return self._merge(good, prepared, rest=[], trouble=None, trace="")

    def _merge(
        self, entries: list[Entry], prepared: list[Any], rest: list[Entry], trouble: BaseException | None,
        trace: str,
    ) -> _Outcome:
        if not entries:
            return _Outcome(release=rest, trouble=trouble, trouble_traceback=trace)
        try:
            with self._calling_store(f"merging {len(entries)} item(s)"):
                self._node(entries[0].item.sidecar.node_path).merge(prepared)
        except Exception as error:
            trace = tb.format_exc()
            if len(entries) == 1 and gives_up(classify(error), self._attempts(entries[0])):
                self._fail(entries[0], error, trace)
                return _Outcome(release=rest, trouble=trouble, trouble_traceback=trace)
            if classify(error) is not Verdict.TRANSIENT and len(entries) > 1:
                # Which item caused it is unknown: retry these one at a time to find out.
                self.solo_through = max(self.solo_through, entries[-1].item.sidecar.id)
            return _Outcome(release=entries + rest, trouble=error, trouble_traceback=trace)
        return _Outcome(merged=entries, release=rest, trouble=trouble, trouble_traceback=trace)

    def _ignored(self, entry: Entry) -> dict[str, list[str]]:
        """`ignored_columns` for the done/ sidecar: columns the engine left out because the node
        does not know them. The gateway records them at acceptance; items it did not check
        (adopted, or queued before a schema change) get them here, so none goes unrecorded."""
        sidecar = entry.item.sidecar
        try:
            node = self.schema.node_schema(sidecar.node_path)
        except Exception:  # the merge succeeded, so the node exists; never fail a completion for a record
            return {}
        known = set(node.required_columns()) | set(node.variable_columns())
        if sidecar.format == "csv":
            columns = header_columns(entry.payload)
        elif entry.table is not None:
            columns = list(entry.table.columns)
        else:  # binary formats and extractor plugins: their variables are the reader's business
            return {}
        ignored = [str(c) for c in columns if c not in known]
        if ignored:
            self.metrics.ignored_columns.labels(self.endpoint).inc(len(ignored))
        if sidecar.ignored_columns is not None or not ignored:
            return {}
        return {"ignored_columns": ignored}

    def _attempts(self, entry: Entry) -> int:
        """Attempts before this one: the sidecar's count plus this process's retries."""
        return entry.item.sidecar.attempts + self._tries.get(entry.item.sidecar.id, 0)

    def _counted(self, entry: Entry) -> Any:
        # The queue adds this attempt when it moves the item; hand it the earlier ones too.
        tries = self._tries.pop(entry.item.sidecar.id, 0)
        if not tries:
            return entry.item
        return replace(entry.item, sidecar=entry.item.sidecar.updated(attempts=entry.item.sidecar.attempts + tries))

    def _fail(self, entry: Entry, error: BaseException, trace: str) -> None:
        attempts = self._attempts(entry) + 1
        self.queue.fail(self._counted(entry), one_line(error), trace)
        self.metrics.failed.labels(self.endpoint).inc()
        if self.notifier is not None:
            self.notifier.add(f"worker: upload {entry.item.sidecar.id} of endpoint {self.endpoint} went to failed/ "
                              f"after {attempts} attempt(s): {one_line(error)}")
        log_event(
            log, "failed", logging.WARNING, upload_id=entry.item.sidecar.id, endpoint=self.endpoint,
            node=entry.item.sidecar.node_path or "/", attempts=attempts, error=one_line(error),
        )

    def _put_back(self, outcome: _Outcome) -> None:
        error = outcome.trouble
        assert error is not None
        if classify(error) is not Verdict.PERMANENT:
            self._forget_store()
        if classify(error) is Verdict.TRANSIENT:
            self.metrics.store_errors.labels(self.endpoint).inc()
            self._store_unreachable(error)
        delay = self._pause(error)
        for entry in outcome.release:  # they stay in accepted/, in their place
            upload_id = entry.item.sidecar.id
            self._tries[upload_id] = self._tries.get(upload_id, 0) + 1
            self.metrics.retried.labels(self.endpoint).inc()
            log_event(
                log, "retrying", logging.WARNING, upload_id=upload_id, endpoint=self.endpoint,
                attempt=self._attempts(entry), retry_in=f"{delay:.1f}s", kind=classify(error).value,
                error=one_line(error),
            )
        if classify(error) is Verdict.UNEXPECTED:
            log_event(log, "unexpected_error", logging.WARNING, endpoint=self.endpoint,
                      traceback=outcome.trouble_traceback)
