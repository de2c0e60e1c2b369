"""Completing a merged batch as one unit, so that a crash never re-merges an earlier upload on top
of a later one.

The danger: items A < B of one batch are merged together; if B reaches done/ and A does not
before a crash, the next start merges A alone, and A's older value overwrites B's newer one.
Re-merging a *whole* batch, or any tail of it in order, is harmless (the merge is an upsert and
later rows win), so completion has to guarantee: after a crash, the items of a merged batch still
waiting are a tail of it in id order - or none, because the batch is known to be merged.

The batch record (``batches/<endpoint>/<batch id>.json``) is that knowledge. Completion is two
calls, so that a worker can merge the next batch while the moves of this one are under way:

``commit_batch`` (before the next batch of the endpoint may merge):
  1. write the record (the batch's done/ sidecars, in id order) into ``tmp/`` and fsync it;
  2. rename it into ``batches/<endpoint>/`` and fsync that folder: the commit point - from here
     on the whole batch counts as done, whatever becomes of its moves.
``finish_batch`` (may overlap the next batch's merge; batches finish one after another, in order):
  3. write each new done/ sidecar into ``tmp/`` and fsync it (in parallel when the caller gives
     a pool: the filesystem commits concurrent fsyncs together);
  4. move each item to done/ in id order (payload, then sidecar), with no fsync;
  5. fsync ``done/<endpoint>/`` once; delete the old sidecars (in the pool: an unlink costs a
     millisecond or more on a busy journal, a rename a tenth of that), then the record (no fsync:
     a record that comes back after a power loss finds its items done and is deleted again).
The source folder is never fsynced: an old sidecar that comes back after a power loss has the
lower revision and loses (``recover``). ``roll_forward`` finishes steps 3-5 from the record for
every record found: at worker start (``recover``) and before each scan of a lane (the lane has no
finish of its own in flight then), so a completion that failed half-way (a full disk, say) is
finished before anything of its endpoint merges again.

Why the done/ sidecars keep their own fsync (step 3) although the record is the commit point: the
record is deleted in step 5, and after that the done/ sidecar is the only copy of the item's
record. Without its fsync a power loss can leave it empty (delayed allocation: the rename is in
the journal, the data is not), while the old accepted/ sidecar - whose unlink was never fsynced -
comes back: that copy would win and the item would merge again alone, after later ones. Keeping
the record until a filesystem-wide sync would avoid the fsyncs, but a syncfs on a shared disk
costs what every other writer left dirty. So the fsyncs stay, off the merge's path: only steps
1-2 (two fsyncs, one after the other) stand between one merge and the next.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.queue.durable import ensure_dir, fsync_dir, listdir, write_synced
from shared.queue.sidecar import Sidecar, now_rfc3339
from shared.logs import log_event

if TYPE_CHECKING:
    from shared.queue import Item, Queue

log = logging.getLogger("zarr_ingress.queue")

BATCHES = "batches"
_DONE, _WAITING = "done", ("accepted", "active")


@dataclass(frozen=True)
class CommittedBatch:
    """A batch whose record is durable (it counts as done); its moves to done/ may still be due."""

    endpoint: str
    items: tuple[Item, ...]  # in id order
    sidecars: tuple[Sidecar, ...]  # the done/ sidecars, one per item
    texts: tuple[bytes, ...]  # their JSON, as in the record: encoded once
    record: Path


def complete_batch(
    queue: Queue, items: Sequence[Item], outcomes: Sequence[Mapping[str, Any]], batch: str,
    *, pool: Executor | None = None,
) -> list[Item]:
    """Steps 1-5 of the module docstring; `items` of one endpoint, `outcomes` their sidecar changes."""
    if not items and not outcomes:
        return []
    return finish_batch(queue, commit_batch(queue, items, outcomes, batch), pool=pool)


def commit_batch(
    queue: Queue, items: Sequence[Item], outcomes: Sequence[Mapping[str, Any]], batch: str,
) -> CommittedBatch:
    """Steps 1-2: the record durable in ``batches/<endpoint>/``; from then on the batch is done."""
    if len(items) != len(outcomes):
        raise ValueError("one outcome per item")
    if not items:
        raise ValueError("a batch has at least one item")
    endpoint = items[0].endpoint
    if any(item.endpoint != endpoint or item.state not in _WAITING for item in items):
        raise ValueError("a batch is waiting items of one endpoint")
    ordered = sorted(zip(items, outcomes), key=lambda pair: pair[0].id)
    merged_at = now_rfc3339()
    sidecars = tuple(
        item.sidecar.updated(
            revision=item.sidecar.revision + 1, attempts=item.sidecar.attempts + 1,
            **{"merged_at": merged_at, "batch": batch, **outcome},
        )
        for item, outcome in ordered
    )
    record_name = f"{batch}.json"
    tmp_record = queue.tmp / f"{BATCHES}-{endpoint}-{record_name}"
    # The sidecars' JSON as it goes to done/, inside one JSON document (encoded once).
    texts = tuple(s.to_json().encode() for s in sidecars)
    record = b"".join((b'{"batch": ', json.dumps(batch).encode(), b', "endpoint": ', json.dumps(endpoint).encode(),
                       b', "items": [', b", ".join(texts), b"]}"))
    write_synced((tmp_record, record))
    record_folder = queue.root / BATCHES / endpoint
    ensure_dir(record_folder)
    os.replace(tmp_record, record_folder / record_name)
    fsync_dir(record_folder)
    return CommittedBatch(endpoint, tuple(item for item, _ in ordered), sidecars, texts, record_folder / record_name)


def finish_batch(queue: Queue, committed: CommittedBatch, *, pool: Executor | None = None) -> list[Item]:
    """Steps 3-5: the committed batch's items -> done/ in id order; then its record is deleted."""
    from shared.queue import Item

    sidecars = committed.sidecars
    tmp_sidecars = [queue.tmp / f"{s.sidecar_name}.{s.revision}" for s in sidecars]
    # 3. in one thread every write comes before the first fsync; in a pool the fsyncs overlap
    files = list(zip(tmp_sidecars, committed.texts))
    if pool is None:
        write_synced(*files)
    else:
        list(pool.map(lambda chunk: write_synced(*chunk), _chunks(files)))
    # 4. the moves, in id order, no fsync
    folder = queue.root / _DONE / committed.endpoint
    ensure_dir(folder)
    done: list[Item] = []
    for item, sidecar, tmp_sidecar in zip(committed.items, sidecars, tmp_sidecars):
        payload_path, sidecar_path = folder / sidecar.payload_name, folder / sidecar.sidecar_name
        os.replace(item.payload_path, payload_path)
        os.replace(tmp_sidecar, sidecar_path)
        done.append(Item(_DONE, sidecar, payload_path, sidecar_path))
    # 5. durable; the superseded sidecars (they lose to the done/ copies anyway), then the record
    fsync_dir(folder)
    superseded = [item.sidecar_path for item in committed.items]
    if pool is None:
        _unlink(superseded)
    else:
        list(pool.map(_unlink, _chunks(superseded)))
    committed.record.unlink(missing_ok=True)
    return done


def _chunks(things: list[Any], size: int = 16) -> list[list[Any]]:
    # A few tasks of many files rather than a task per file: a future costs about what an
    # uncontended fsync does, and each one takes the interpreter lock from the merging thread.
    return [things[start:start + size] for start in range(0, len(things), size)]


def _unlink(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def roll_forward(queue: Queue, endpoint: str | None = None) -> list[Item]:
    """Every item named by a batch record and still waiting -> done/ (its sidecar from the record)."""
    root = queue.root / BATCHES
    endpoints = [endpoint] if endpoint is not None else sorted(listdir(root))
    finished: list[Item] = []
    for name in endpoints:
        record_folder = root / name
        for record_name in sorted(n for n in listdir(record_folder) if n.endswith(".json")):
            path = record_folder / record_name
            finished.extend(_finish(queue, path))
            path.unlink(missing_ok=True)
            fsync_dir(record_folder)
    return finished


def _finish(queue: Queue, path: Path) -> list[Any]:
    try:
        record = json.loads(path.read_bytes())
        sidecars = [Sidecar.from_json(json.dumps(entry)) for entry in record["items"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        # Never happens by the protocol (the record is fsynced before it is renamed into place).
        log_event(log, "batch_record_unreadable", logging.ERROR, path=path, error=error)
        return []
    finished = []
    for sidecar in sidecars:  # in id order, as written
        item = queue.find(sidecar.id)
        if item is None or item.state not in _WAITING or item.sidecar.revision >= sidecar.revision:
            continue  # already done (or changed by an operator since): nothing to finish
        finished.append(queue._place(item, _DONE, sidecar))
        log_event(log, "batch_completion_finished", upload_id=sidecar.id, endpoint=sidecar.endpoint,
                  batch=record.get("batch"))
    return finished
