"""Completing a merged batch as one unit, so that a crash never re-merges an earlier upload on top
of a later one.

The danger: items A < B of one batch are merged together; if B reaches done/ and A does not
before a crash, the next start merges A alone, and A's older value overwrites B's newer one.
Re-merging a *whole* batch, or any tail of it in order, is harmless (the merge is an upsert and
later rows win), so completion has to guarantee: after a crash, the items of a merged batch still
waiting are a tail of it in id order - or none, because the batch is known to be merged.

The batch record (``batches/<endpoint>/<batch id>.json``) is that knowledge. Completion is:
  1. write the record (the batch's done/ sidecars, in id order) and each new done/ sidecar into
     ``tmp/``, then fsync them all (in parallel when the caller gives a pool: the filesystem
     commits concurrent fsyncs together);
  2. rename the record into ``batches/<endpoint>/`` and fsync that folder: the commit point -
     from here on the whole batch counts as done;
  3. move each item to done/ in id order (payload, then sidecar), with no fsync;
  4. fsync ``done/<endpoint>/`` once; delete the old sidecars (in the pool: an unlink costs a
     millisecond or more on a busy journal, a rename a tenth of that), then the record (no fsync:
     a record that comes back after a power loss finds its items done and is deleted again).
The source folder is never fsynced: an old sidecar that comes back after a power loss has the
lower revision and loses (``recover``). ``roll_forward`` finishes step 3 from the record for every
record found: at worker start (``recover``) and before each scan of a lane, so a completion that
failed half-way (a full disk, say) is finished before anything of its endpoint merges again.
Two directory fsyncs per batch instead of two per item, plus the sidecars' own fsyncs, which
overlap.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
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


def complete_batch(
    queue: Queue, items: Sequence[Item], outcomes: Sequence[Mapping[str, Any]], batch: str,
    *, pool: Executor | None = None,
) -> list[Item]:
    """Steps 1-4 of the module docstring; `items` of one endpoint, `outcomes` their sidecar changes."""
    from shared.queue import Item

    if len(items) != len(outcomes):
        raise ValueError("one outcome per item")
    if not items:
        return []
    endpoint = items[0].endpoint
    if any(item.endpoint != endpoint or item.state not in _WAITING for item in items):
        raise ValueError("a batch is waiting items of one endpoint")
    ordered = sorted(zip(items, outcomes), key=lambda pair: pair[0].id)
    merged_at = now_rfc3339()
    sidecars = [
        item.sidecar.updated(
            revision=item.sidecar.revision + 1, attempts=item.sidecar.attempts + 1,
            **{"merged_at": merged_at, "batch": batch, **outcome},
        )
        for item, outcome in ordered
    ]
    record_name = f"{batch}.json"
    tmp_record = queue.tmp / f"{BATCHES}-{endpoint}-{record_name}"
    tmp_sidecars = [queue.tmp / f"{s.sidecar_name}.{s.revision}" for s in sidecars]
    record = {"batch": batch, "endpoint": endpoint, "items": [json.loads(s.to_json()) for s in sidecars]}

    # 1. in one thread every write comes before the first fsync; in a pool the fsyncs overlap
    files = [(tmp_record, json.dumps(record).encode()), *((path, s.to_json().encode())
                                                          for path, s in zip(tmp_sidecars, sidecars))]
    if pool is None:
        write_synced(*files)
    else:
        list(pool.map(write_synced, files))
    # 2. the commit point
    record_folder = queue.root / BATCHES / endpoint
    ensure_dir(record_folder)
    os.replace(tmp_record, record_folder / record_name)
    fsync_dir(record_folder)
    # 3. the moves, in id order, no fsync
    folder = queue.root / _DONE / endpoint
    ensure_dir(folder)
    done: list[Item] = []
    for (item, _), sidecar, tmp_sidecar in zip(ordered, sidecars, tmp_sidecars):
        payload_path, sidecar_path = folder / sidecar.payload_name, folder / sidecar.sidecar_name
        os.replace(item.payload_path, payload_path)
        os.replace(tmp_sidecar, sidecar_path)
        done.append(Item(_DONE, sidecar, payload_path, sidecar_path))
    # 4. durable; the superseded sidecars (they lose to the done/ copies anyway), then the record
    fsync_dir(folder)
    superseded = [item.sidecar_path for item, _ in ordered]
    if pool is None:
        for path in superseded:
            path.unlink(missing_ok=True)
    else:
        list(pool.map(lambda path: path.unlink(missing_ok=True), superseded))
    (record_folder / record_name).unlink(missing_ok=True)
    return done


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
