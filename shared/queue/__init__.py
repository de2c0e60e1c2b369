"""The spool directory between gateway and worker: the protocol that loses no upload.

Layout under the queue root (DESIGN.md section 3)::

    tmp/                                  files being written; never scanned
    accepted/<endpoint>/<id>.<ext>        payload, bytes as received (after gzip decoding)
    accepted/<endpoint>/<id>.<ext>.meta.json   sidecar: published last, the commit point
    active/<endpoint>/...                 claimed by the worker
    done/<endpoint>/...                   merged; sidecar gains merged_at, rows, batch
    failed/<endpoint>/...                 not mergeable; sidecar gains error, traceback, failed_at
    orphans/<endpoint>/...                payloads (or sidecars) that were never whole; kept for a person
    batches/<endpoint>/<batch id>.json    a merged batch whose moves to done/ are under way (batches.py)
    idempotency/<endpoint>/<key-hash>.json  sidecar of the first upload with that Idempotency-Key
    idempotency/locks/<nn>.lock           256 striped flock files guarding those index files
    ids.counter                           last upload id (as nanoseconds) and ids handed out, under flock

Upload ids look like ``20261124T021105_123456789Z``: a UTC time with nanoseconds, fixed width, so
they sort as plain strings. Each id is ``max(time_ns(), last + 1)`` of a counter read and written
under an exclusive ``flock`` on ``ids.counter``, so ids are strictly increasing in the order they
were handed out, across gunicorn workers and threads, within one nanosecond, and when the wall
clock steps back. An id is taken before the upload is written, so an upload that got its 202
before another one was sent always has the smaller id. (The counter is not fsynced: after a power
loss *and* a clock stepped back, new ids could sort before old ones; both at once are rare and the
price of an fsync per upload is not.) Beside the last id the counter keeps how many ids it has
handed out: the worker reads it to see how fast uploads arrive (worker/pacing.py).

Publishing (``enqueue``): payload and sidecar are written into ``tmp/`` and fsynced, the payload is
renamed into ``accepted/<endpoint>/``, then the sidecar (the commit point), then the directory is
fsynced. Only then does the gateway answer 202. Readers key on sidecars and only return an item
whose payload sits beside its sidecar, so nobody ever sees half an item.

A merged batch goes to done/ as one unit (``complete_batch``, or ``commit_batch`` then
``finish_batch``, see ``shared/queue/batches.py``: a record is the commit point, then the moves in
id order with one folder fsync). Single state
changes (claim, complete, fail, release, retry) move an item between state folders:
  1. the new sidecar, with ``revision`` one higher, is written to ``tmp/`` and fsynced;
  2. the payload is renamed into the destination folder;
  3. the new sidecar is renamed into the destination folder; the folder is fsynced;
  4. the old sidecar is deleted; the source folder is fsynced.
A crash can leave two sidecars of one id, or a payload in another folder than its sidecar.
**The sidecar with the highest revision wins** (a tie, which the protocol never produces, goes to
done > failed > active > accepted). ``find()`` applies that rule, so it shows every id in exactly
one state at every instant, and ``recover()`` (worker start) makes the disk match it:
  * losing sidecar copies are deleted; the payload is moved beside the winning sidecar;
  * items left in ``active/`` go back to ``accepted/`` (attempts + 1), keeping their id and order;
  * a payload with no sidecar anywhere (crash between the two renames of ``enqueue``: the client
    never got a 202) is moved to ``orphans/`` - never merged, never silently deleted. In
    ``accepted/`` only payloads older than a minute count, since a gateway may be between its two
    renames right now;
  * a sidecar without payload in ``done/`` or ``failed/`` is an interrupted purge (purges delete the
    payload first) and is deleted; elsewhere it goes to ``orphans/``;
  * ``tmp/`` files older than a minute are deleted (nothing in ``tmp/`` was ever acknowledged).

The worker-side methods assume one worker owns the queue (``worker.lock``, held by the worker);
the gateway side (``enqueue``, ``find``, ``depth``) is safe from any number of processes.

Idempotency-Key: the first upload with a key (per user, endpoint and node path) stores its
sidecar under ``idempotency/``; the index is written while holding a striped flock and only after
the item is durable, so concurrent repeats in other processes wait and get the original sidecar
(whose sha256 tells the gateway whether the repeat is the same body). A crash between publishing
the item and writing the index - or a failure to write the index, e.g. a full disk - lets one later
repeat be queued again (at-least-once; the merge is an upsert); the item itself is accepted all the
same. Index files are pruned with ``done/`` by ``purge_done``.

A write that fails before the commit point (ENOSPC, EDQUOT, no inodes) leaves nothing behind:
the temporary files and a payload already renamed into ``accepted/`` are removed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import repeat
from pathlib import Path
from typing import Any

from shared.queue.batches import CommittedBatch, commit_batch, complete_batch, finish_batch, roll_forward
from shared.queue.durable import age, ensure_dir, fsync_dir, listdir, mtime, scandir, subdirs, write_synced
from shared.logs import log_event
from shared.queue.sidecar import (  # noqa: F401  (re-exported: the queue's vocabulary)
    FORMATS, ID_PATTERN, SIDECAR_SUFFIX, Sidecar, format_id, id_time, now_rfc3339,
)

log = logging.getLogger("zarr_ingress.queue")

ACCEPTED, ACTIVE, DONE, FAILED = "accepted", "active", "done", "failed"
STATES = (ACCEPTED, ACTIVE, DONE, FAILED)
WAITING = (ACCEPTED, ACTIVE)  # not yet done or failed: what depth() counts
_TIE_RANK = {ACCEPTED: 0, ACTIVE: 1, FAILED: 2, DONE: 3}

# Every payload format: a pattern missing one would make recover() orphan those items.
_PAYLOAD_NAME = re.compile(r"(\d{8}T\d{6}_\d{9}Z)\.(" + "|".join(map(re.escape, FORMATS)) + ")")
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

STALE_SECONDS = 60.0  # tmp leftovers and sidecar-less payloads older than this are not in flight
DEPTH_CACHE_SECONDS = 1.0
# Listing a backlog is not free (20,000 items: 40-50 ms of a gateway process): it is redone at
# most DEPTH_CACHE_SECONDS apart and no more often than keeps it under this share of the time,
# and once a listing took DEPTH_SLOW_SECONDS or more, the next ones run in a thread of their own
# while requests are answered from the last count (a request that did the listing waited for it).
DEPTH_LISTING_SHARE = 0.02
DEPTH_SLOW_SECONDS = 0.005
_LOCK_STRIPES = 256


class QueueError(Exception):
    """A queue operation that cannot be done as asked (wrong state, unknown id)."""


@dataclass(frozen=True)
class Item:
    """An upload in one state: its sidecar and where its two files are."""

    state: str
    sidecar: Sidecar
    payload_path: Path
    sidecar_path: Path

    @property
    def id(self) -> str:
        return self.sidecar.id

    @property
    def endpoint(self) -> str:
        return self.sidecar.endpoint

    def read_payload(self) -> bytes:
        return self.payload_path.read_bytes()


class Queue:
    """One spool directory. Cheap to create; every method works on the files alone."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self.tmp = self.root / "tmp"
        self.orphans = self.root / "orphans"
        self.idempotency = self.root / "idempotency"
        self._counter = self.root / "ids.counter"
        self._tmp, self._accepted = str(self.tmp), str(self.root / ACCEPTED)  # for _publish
        for folder in (self.tmp, *(self.root / s for s in STATES), self.orphans, self.idempotency / "locks"):
            ensure_dir(folder)
        self._depth_value = 0
        self._depth_until = 0.0  # monotonic time from which the count is due again
        self._depth_counted = float("-inf")  # monotonic time the last count began
        self._depth_slow = False  # the last listing took DEPTH_SLOW_SECONDS or more
        self._depth_lock = threading.Lock()
        self._depth_counting = False  # a background count is under way

    # ---------------------------------------------------------------- gateway side

    def enqueue(self, endpoint: str, payload: bytes, **fields: Any) -> Sidecar:
        """Write an upload durably into accepted/; when this returns, it survives a crash.

        `fields` are Sidecar fields (`format` is required). With `idempotency_key`, a repeat of
        the key by the same `username` on the same endpoint and `node_path` returns the original
        sidecar with `replayed=True` and queues nothing (the caller compares its sha256).
        """
        _check_endpoint(endpoint)
        if fields.get("format") not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, not {fields.get('format')!r}")
        key = fields.get("idempotency_key")
        if not key:
            return self._publish(endpoint, payload, fields)
        index = self._idempotency_index(endpoint, fields.get("username"), key, fields.get("node_path") or "")
        with self._idempotency_lock(index):
            original = _read_index(index)
            if original is not None:
                return original
            sidecar = self._publish(endpoint, payload, fields)
            try:
                ensure_dir(index.parent)
                self._write_published(index, sidecar.to_json().encode())
            except OSError as error:
                # The item is durable: it is accepted. Only a later repeat may be queued again.
                log_event(log, "idempotency_index_not_written", logging.WARNING, upload_id=sidecar.id, endpoint=endpoint,
                          error=error)
            return sidecar

    def replayed(
        self, endpoint: str, username: str | None, idempotency_key: str, node_path: str = ""
    ) -> Sidecar | None:
        """The sidecar of the first upload with this key (same user, endpoint and node path), if any."""
        _check_endpoint(endpoint)
        return _read_index(self._idempotency_index(endpoint, username, idempotency_key, node_path))

    def find(self, upload_id: str) -> Item | None:
        """The item with this id in whichever state it is, or None (unknown or purged)."""
        if not ID_PATTERN.fullmatch(upload_id):
            return None
        copies: list[Item] = []
        for state in STATES:
            for endpoint in self._endpoints(state):
                folder = self.root / state / endpoint
                for fmt in FORMATS:
                    sidecar_path = folder / f"{upload_id}.{fmt}{SIDECAR_SUFFIX}"
                    try:
                        sidecar = Sidecar.from_json(sidecar_path.read_bytes())
                    except (FileNotFoundError, ValueError):
                        continue
                    copies.append(Item(state, sidecar, folder / sidecar.payload_name, sidecar_path))
        if not copies:
            return None
        winner = max(copies, key=lambda item: (item.sidecar.revision, _TIE_RANK[item.state]))
        if not winner.payload_path.exists():
            # Mid-move: the payload already went ahead to the destination folder.
            for state in STATES:
                moved = self.root / state / winner.endpoint / winner.sidecar.payload_name
                if moved.exists():
                    return replace(winner, payload_path=moved)
        return winner

    def depth(self, recount: bool = False) -> int:
        """Items not yet done or failed, counted from directory entries; uploads this process
        queues meanwhile are added as they come. The count is redone when it is due (after a
        second, longer when a backlog makes the listing slow, see DEPTH_LISTING_SHARE): in this
        thread while listings are quick, in a thread of its own once they are slow, answering
        from the last count meanwhile. `recount`: a count begun over DEPTH_CACHE_SECONDS ago is
        redone here and now (for refusals, which must not rest on an old count)."""
        now = time.monotonic()
        if recount and now - self._depth_counted >= DEPTH_CACHE_SECONDS:
            self._count_depth()
        elif now >= self._depth_until:
            if not self._depth_slow:
                self._count_depth()
            else:
                with self._depth_lock:
                    start, self._depth_counting = not self._depth_counting, True
                if start:
                    threading.Thread(target=self._count_depth, name="queue-depth", daemon=True).start()
        return self._depth_value

    def _count_depth(self) -> None:
        began = time.monotonic()
        try:
            # Names only: the oldest id (waiting_by_endpoint) costs a split per entry, per second
            # and per gateway process, and a backlog can hold tens of thousands of entries.
            self._depth_value = sum(
                sum(map(str.endswith, listdir(self.root / state / endpoint), repeat(SIDECAR_SUFFIX)))
                for state in WAITING for endpoint in self._endpoints(state)
            )
            took = time.monotonic() - began
            self._depth_counted, self._depth_slow = began, took >= DEPTH_SLOW_SECONDS
            self._depth_until = began + max(DEPTH_CACHE_SECONDS, took / DEPTH_LISTING_SHARE)
        finally:
            with self._depth_lock:
                self._depth_counting = False

    def waiting_by_endpoint(self) -> dict[str, tuple[int, str | None]]:
        """{endpoint: (items not yet done or failed, oldest id)}, from directory listings only."""
        result: dict[str, tuple[int, str | None]] = {}
        for state in WAITING:
            for endpoint in self._endpoints(state):
                count, oldest = result.get(endpoint, (0, None))
                for name in listdir(self.root / state / endpoint):
                    if name.endswith(SIDECAR_SUFFIX):
                        count += 1
                        upload_id = name.split(".", 1)[0]
                        if oldest is None or upload_id < oldest:
                            oldest = upload_id
                result[endpoint] = (count, oldest)
        return result

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    # ---------------------------------------------------------------- worker side

    def scan(self, endpoint: str | None = None, *, limit: int | None = None, pool: Executor | None = None) -> list[Item]:
        """Waiting items (accepted/), whole ones only, in id order; at most `limit` of them."""
        return self.items(ACCEPTED, endpoint, limit=limit, pool=pool)

    def items(
        self, state: str, endpoint: str | None = None, *, limit: int | None = None, pool: Executor | None = None,
    ) -> list[Item]:
        """Whole items (sidecar and payload side by side) in one state, in id order. With a `pool`,
        the sidecars are read in its threads (a read waits on the disk, not on the interpreter)."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        endpoints = [endpoint] if endpoint is not None else self._endpoints(state)
        candidates: list[tuple[str, str, str]] = []
        for name in endpoints:
            _check_endpoint(name)
            folder = self.root / state / name
            whole = whole_items(listdir(folder))
            if state == ACCEPTED:
                whole = settled_items(whole, whole_items(listdir(folder)))
            candidates.extend((entry, name, entry[: -len(SIDECAR_SUFFIX)]) for entry in whole)
        candidates.sort()

        def read(candidate: tuple[str, str, str]) -> Item | None:
            sidecar_name, name, payload_name = candidate
            folder = self.root / state / name
            try:
                sidecar = Sidecar.from_json((folder / sidecar_name).read_bytes())
            except FileNotFoundError:
                return None
            except ValueError as error:
                log_event(log, "sidecar_unreadable", logging.WARNING, path=folder / sidecar_name, error=error)
                return None
            return Item(state, sidecar, folder / payload_name, folder / sidecar_name)

        result: list[Item] = []
        position = 0
        while position < len(candidates) and (limit is None or len(result) < limit):
            # Read as many as are still wanted; skipped ones (gone, unreadable) make another round.
            wanted = len(candidates) if limit is None else limit - len(result)
            chunk = candidates[position:position + wanted]
            position += len(chunk)
            if pool is None:
                read_items = map(read, chunk)
            else:
                read_items = (item for part in pool.map(lambda part: [read(c) for c in part], _parts(chunk))
                              for item in part)
            result.extend(item for item in read_items if item is not None)
        return result

    def counts(self) -> dict[str, dict[str, int]]:
        """{state: {endpoint: items}} from directory listings, for `queue status`."""
        return {
            state: {
                endpoint: sum(1 for n in listdir(self.root / state / endpoint) if n.endswith(SIDECAR_SUFFIX))
                for endpoint in self._endpoints(state)
            }
            for state in STATES
        }

    def claim(self, item: Item) -> Item:
        """accepted/ -> active/."""
        self._expect(item, ACCEPTED)
        return self._move(item, ACTIVE, claimed_at=now_rfc3339())

    def complete(self, item: Item, **outcome: Any) -> Item:
        """-> done/; the sidecar gains merged_at (default now), rows, batch and any other outcome."""
        self._expect(item, ACTIVE, ACCEPTED)
        outcome.setdefault("merged_at", now_rfc3339())
        return self._move(item, DONE, attempts=item.sidecar.attempts + 1, **outcome)

    def complete_batch(
        self, items: Sequence[Item], outcomes: Sequence[Mapping[str, Any]], batch: str,
        *, pool: Executor | None = None,
    ) -> list[Item]:
        """A merged batch -> done/ as one unit: a crash at any instant leaves all of it merged or
        none of it done (``shared/queue/batches.py``); one directory fsync per folder touched."""
        return complete_batch(self, items, outcomes, batch, pool=pool)

    def commit_batch(self, items: Sequence[Item], outcomes: Sequence[Mapping[str, Any]], batch: str) -> CommittedBatch:
        """The first half of ``complete_batch``: the batch's record durable, so the batch counts as
        done (a crash from here on finishes its moves); the next batch of the endpoint may merge."""
        return commit_batch(self, items, outcomes, batch)

    def finish_batch(self, committed: CommittedBatch, *, pool: Executor | None = None) -> list[Item]:
        """The second half: a committed batch's items -> done/ in id order, then its record goes.
        Batches of one endpoint finish in the order they were committed."""
        return finish_batch(self, committed, pool=pool)

    def roll_forward(self, endpoint: str | None = None) -> list[Item]:
        """Finish the completions a crash interrupted (their batch was merged): -> done/."""
        return roll_forward(self, endpoint)

    def fail(self, item: Item, error: str, traceback: str) -> Item:
        """-> failed/, with the reason an operator can act on."""
        self._expect(item, ACTIVE, ACCEPTED)
        return self._move(
            item, FAILED, error=error, traceback=traceback, failed_at=now_rfc3339(),
            attempts=item.sidecar.attempts + 1,
        )

    def release(self, item: Item) -> Item:
        """active/ -> accepted/ after transient trouble; keeps its id, so its place in order."""
        self._expect(item, ACTIVE)
        return self._move(item, ACCEPTED, attempts=item.sidecar.attempts + 1)

    def retry(self, upload_id: str) -> Item:
        """failed/ -> accepted/, keeping its id (its order); the last error is cleared."""
        item = self.find(upload_id)
        if item is None:
            raise QueueError(f"no upload with id {upload_id}")
        if item.state != FAILED:
            raise QueueError(f"upload {upload_id} is {item.state}, only failed uploads can be retried")
        return self._move(item, ACCEPTED, error=None, traceback=None, failed_at=None, retried_at=now_rfc3339())

    def replace_payload(self, upload_id: str, payload: bytes) -> Item:
        """A failed item's payload <- `payload` (an operator's correction), keeping its id and so its
        order. The sidecar gets the new size and sha256 and keeps the old ones under `replaced`
        (a list, oldest first). A crash between the two renames leaves the new payload beside the
        old sidecar; doing the replace again finishes it."""
        item = self.find(upload_id)
        if item is None:
            raise QueueError(f"no upload with id {upload_id}")
        if item.state != FAILED:
            raise QueueError(f"upload {upload_id} is {item.state}, only failed uploads can be replaced")
        previous = {"sha256": item.sidecar.sha256, "size": item.sidecar.size, "replaced_at": now_rfc3339()}
        sidecar = item.sidecar.updated(
            revision=item.sidecar.revision + 1, size=len(payload), sha256=hashlib.sha256(payload).hexdigest(),
            replaced=[*item.sidecar.extra.get("replaced", []), previous],
        )
        tmp_payload = self.tmp / f"{sidecar.payload_name}.{sidecar.revision}"
        tmp_sidecar = self.tmp / f"{sidecar.sidecar_name}.{sidecar.revision}"
        write_synced((tmp_payload, payload), (tmp_sidecar, sidecar.to_json().encode()))
        os.replace(tmp_payload, item.payload_path)
        os.replace(tmp_sidecar, item.sidecar_path)
        fsync_dir(item.sidecar_path.parent)
        return Item(FAILED, sidecar, item.payload_path, item.sidecar_path)

    def recover(self) -> list[Item]:
        """Repair what a crash left half done (see the module docstring); returns changed items."""
        self._clean_tmp()
        rolled = self.roll_forward()
        sidecars: dict[str, list[Item]] = {}
        payloads: dict[str, list[tuple[str, str, Path]]] = {}
        for state in STATES:
            for endpoint in self._endpoints(state):
                folder = self.root / state / endpoint
                for name in listdir(folder):
                    path = folder / name
                    if name.endswith(SIDECAR_SUFFIX):
                        try:
                            sidecar = Sidecar.from_json(path.read_bytes())
                        except ValueError as error:
                            self._to_orphans(endpoint, path, f"unreadable sidecar: {error}")
                            continue
                        item = Item(state, sidecar, folder / sidecar.payload_name, path)
                        sidecars.setdefault(sidecar.id, []).append(item)
                    elif match := _PAYLOAD_NAME.fullmatch(name):
                        payloads.setdefault(match.group(1), []).append((state, endpoint, path))

        changed: list[Item] = []
        for upload_id in sorted(sidecars.keys() | payloads.keys()):
            copies, files = sidecars.get(upload_id, []), payloads.get(upload_id, [])
            if not copies:
                for state, endpoint, path in files:
                    if state == ACCEPTED and age(path) < STALE_SECONDS:
                        continue  # a gateway may be between its two renames right now
                    if os.path.exists(str(path) + SIDECAR_SUFFIX):
                        continue  # its sidecar arrived after the listing passed its name (see below)
                    self._to_orphans(endpoint, path, "payload without sidecar")
                continue
            winner = max(copies, key=lambda item: (item.sidecar.revision, _TIE_RANK[item.state]))
            # A listing is no snapshot: while a gateway publishes (payload renamed in, then its
            # sidecar) or an operator retries, a listing of a busy folder can return a sidecar and
            # not the payload renamed in before it (ext4's hash order). The files themselves are
            # the truth: without this look, a whole item that got its 202 went to orphans/.
            files = [f for f in files if f[2].exists()]
            if winner.payload_path.exists() and all(f[2] != winner.payload_path for f in files):
                files.append((winner.state, winner.endpoint, winner.payload_path))
            touched = False
            for loser in copies:
                if loser is not winner:
                    loser.sidecar_path.unlink(missing_ok=True)
                    fsync_dir(loser.sidecar_path.parent)
                    touched = True
            if not files:
                if winner.state in (DONE, FAILED):
                    winner.sidecar_path.unlink(missing_ok=True)  # an interrupted purge
                    fsync_dir(winner.sidecar_path.parent)
                else:
                    self._to_orphans(winner.endpoint, winner.sidecar_path, "sidecar without payload")
                continue
            in_place = [f for f in files if f[2] == winner.payload_path]
            elsewhere = [f for f in files if f[2] != winner.payload_path]
            if not in_place:
                os.replace(elsewhere.pop(0)[2], winner.payload_path)
                fsync_dir(winner.payload_path.parent)
                touched = True
            for _, endpoint, path in elsewhere:
                self._to_orphans(endpoint, path, "second copy of a payload")
            item = winner
            if item.state == ACTIVE:
                item = self._move(item, ACCEPTED, attempts=item.sidecar.attempts + 1)
                touched = True
            if touched:
                log_event(log, "recovered", upload_id=item.id, endpoint=item.endpoint, state=item.state)
                changed.append(item)
        return rolled + changed

    def purge_done(self, older_than: timedelta) -> int:
        """Delete done items merged more than `older_than` ago (and idempotency entries as old)."""
        cutoff = time.time() - older_than.total_seconds()
        purged = 0
        for endpoint in self._endpoints(DONE):
            folder = self.root / DONE / endpoint
            for entry in scandir(folder):
                if entry.name.endswith(SIDECAR_SUFFIX) and mtime(entry) < cutoff:
                    self._delete(folder / entry.name[: -len(SIDECAR_SUFFIX)], folder / entry.name)
                    purged += 1
        for folder in subdirs(self.idempotency):
            if folder.name == "locks":
                continue
            for entry in scandir(folder):
                if mtime(entry) < cutoff:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        return purged

    def purge_failed(self, ids: Iterable[str]) -> int:
        """Delete these failed items; ids in another state (or unknown) are left alone."""
        purged = 0
        for upload_id in ids:
            item = self.find(upload_id)
            if item is not None and item.state == FAILED:
                self._delete(item.payload_path, item.sidecar_path)
                purged += 1
        return purged

    # ---------------------------------------------------------------- internals

    def _next_id(self) -> str:
        fd = os.open(self._counter, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, handed_out = _counter_fields(os.pread(fd, 64, 0))
            value = max(time.time_ns(), last + 1)
            os.pwrite(fd, b"%020d %020d\n" % (value, handed_out + 1), 0)
        finally:
            os.close(fd)  # also releases the lock
        return format_id(value)

    def ids_handed_out(self) -> int:
        """How many ids the gateways have handed out from this queue's counter (the worker's
        measure of how fast uploads arrive, worker/pacing.py). 0 before the first upload."""
        try:
            with open(self._counter, "rb") as file:
                return _counter_fields(file.read(64))[1]
        except FileNotFoundError:
            return 0

    def _publish(self, endpoint: str, payload: bytes, fields: dict[str, Any]) -> Sidecar:
        sidecar = Sidecar(
            id=self._next_id(), endpoint=endpoint, size=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(), received_at=now_rfc3339(), **fields,
        )
        # Paths as strings: pathlib took ~3 % of the gateway's CPU per upload (py-spy, issue 11).
        folder = os.path.join(self._accepted, endpoint)
        if not os.path.isdir(folder):
            ensure_dir(Path(folder))
        payload_name = sidecar.payload_name
        sidecar_name = payload_name + SIDECAR_SUFFIX
        tmp_payload, tmp_sidecar = os.path.join(self._tmp, payload_name), os.path.join(self._tmp, sidecar_name)
        published = os.path.join(folder, payload_name)
        committed = False
        try:
            write_synced((tmp_payload, payload), (tmp_sidecar, sidecar.to_json().encode()))
            os.replace(tmp_payload, published)
            os.replace(tmp_sidecar, os.path.join(folder, sidecar_name))  # the commit point
            committed = True
            fsync_dir(folder)
        except BaseException:
            _unlink(tmp_payload)
            _unlink(tmp_sidecar)
            if not committed:  # never acknowledged: no payload without its sidecar left behind
                _unlink(published)
            raise
        if not os.path.exists(published) and os.path.exists(os.path.join(self.orphans, endpoint, payload_name)):
            # recover() found the payload without sidecar and took it for an orphan: never 202.
            # (A payload merely gone from accepted/ was merged already: a worker woken by this
            # upload can claim and finish it before this line runs; that is a 202.)
            raise QueueError(f"payload of {sidecar.id} was taken for an orphan while it was published")
        self._depth_value += 1
        return sidecar

    def _move(self, item: Item, state: str, **changes: Any) -> Item:
        return self._place(item, state, item.sidecar.updated(revision=item.sidecar.revision + 1, **changes))

    def _place(self, item: Item, state: str, sidecar: Sidecar) -> Item:
        """Move `item` to `state` with `sidecar` (its next revision): steps 1-4 of the docstring."""
        folder = self.root / state / item.endpoint
        ensure_dir(folder)
        payload_path, sidecar_path = folder / sidecar.payload_name, folder / sidecar.sidecar_name
        tmp_sidecar = self.tmp / f"{sidecar.sidecar_name}.{sidecar.revision}"
        write_synced((tmp_sidecar, sidecar.to_json().encode()))
        if item.payload_path != payload_path:
            os.replace(item.payload_path, payload_path)
        os.replace(tmp_sidecar, sidecar_path)
        fsync_dir(folder)
        if item.sidecar_path != sidecar_path:
            item.sidecar_path.unlink(missing_ok=True)
            fsync_dir(item.sidecar_path.parent)
        return Item(state, sidecar, payload_path, sidecar_path)

    def _delete(self, payload_path: Path, sidecar_path: Path) -> None:
        # Payload first: a sidecar left alone in done/ or failed/ reads as an interrupted purge.
        payload_path.unlink(missing_ok=True)
        sidecar_path.unlink(missing_ok=True)

    def _to_orphans(self, endpoint: str, path: Path, reason: str) -> None:
        folder = self.orphans / endpoint
        ensure_dir(folder)
        target = folder / path.name
        number = 1
        while target.exists():
            target = folder / f"{path.name}.{number}"
            number += 1
        os.replace(path, target)
        fsync_dir(folder)
        log_event(log, "orphan_moved", logging.WARNING, path=path, to=target, reason=reason)

    def _clean_tmp(self) -> None:
        for entry in scandir(self.tmp):
            if age(Path(entry.path)) > STALE_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)

    def _expect(self, item: Item, *states: str) -> None:
        if item.state not in states:
            raise QueueError(f"upload {item.id} is {item.state}, expected {' or '.join(states)}")

    def _endpoints(self, state: str) -> list[str]:
        return sorted(p.name for p in subdirs(self.root / state))

    def _idempotency_index(self, endpoint: str, username: str | None, key: str, node_path: str) -> Path:
        # The root node keeps the name of the days before node paths were part of the scope, so
        # index files written by an older gateway still count. Keys and node paths hold no NUL.
        scope = f"{username or ''}\0{key}" + (f"\0{node_path}" if node_path else "")
        digest = hashlib.sha256(scope.encode()).hexdigest()
        return self.idempotency / endpoint / f"{digest}.json"

    @contextlib.contextmanager
    def _idempotency_lock(self, index: Path) -> Iterator[None]:
        stripe = int(hashlib.sha256(str(index).encode()).hexdigest()[:4], 16) % _LOCK_STRIPES
        fd = os.open(self.idempotency / "locks" / f"{stripe:03d}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write_published(self, path: Path, data: bytes) -> None:
        tmp = self.tmp / f"{path.name}.{os.getpid()}.{time.time_ns()}"
        write_synced((tmp, data))
        os.replace(tmp, path)
        fsync_dir(path.parent)


def _counter_fields(data: bytes) -> tuple[int, int]:
    """(last id in nanoseconds, ids handed out) of ids.counter; a counter written before the count
    was kept holds the last id alone, and an unreadable one counts as empty."""
    try:
        fields = [int(field) for field in data.split()]
    except ValueError:
        return 0, 0
    return (fields[0] if fields else 0), (fields[1] if len(fields) > 1 else 0)


def _read_index(index: Path) -> Sidecar | None:
    """The original sidecar of an idempotency index file, marked replayed; None if there is none.

    An index that cannot be read counts as absent: the upload is queued (at-least-once) rather
    than refused for the want of a deduplication hint.
    """
    try:
        original = Sidecar.from_json(index.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log_event(log, "idempotency_index_unreadable", logging.WARNING, path=index, error=error)
        return None
    original.replayed = True
    return original


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _parts(things: list[Any], size: int = 64) -> list[list[Any]]:
    # A task per few dozen files: a task per file would cost the merging thread more than it saves.
    return [things[start:start + size] for start in range(0, len(things), size)]


def whole_items(names: Iterable[str]) -> list[str]:
    """The sidecar names of a listing whose payload is in it too."""
    names = set(names)
    return [entry for entry in names if entry.endswith(SIDECAR_SUFFIX) and entry[: -len(SIDECAR_SUFFIX)] in names]


def settled_items(first: list[str], second: list[str]) -> list[str]:
    """What a scan of accepted/ may merge, from two listings taken one after the other.

    A listing of a directory that changes while it is read may miss an entry added meanwhile
    and still return one added after it (POSIX leaves it open; ext4's hash-ordered readdir does
    it), so one listing can show upload B without upload A that got its 202 before B was sent.
    Every item whole before the first listing ended exists throughout the second, so the second
    listing up to the newest id the first one saw holds A whenever it holds B (DESIGN.md §3,
    rule 3). Newer items wait for the next scan.
    """
    if not first:
        return []
    newest = max(_item_id(entry) for entry in first)
    return [entry for entry in second if _item_id(entry) <= newest]


def _item_id(sidecar_name: str) -> str:
    return sidecar_name.partition(".")[0]


def _check_endpoint(name: str) -> None:
    if not _ENDPOINT_NAME.fullmatch(name):
        raise ValueError(f"bad endpoint name {name!r}")
