"""Driver of the completion crash test: stop a real lane at every queue step, restart, report the store.

usage: python completion_crash_driver.py WORK_DIR SCHEMA.yaml UPLOADS.json BATCH_ITEMS MOVE_THREADS [BROKEN]

UPLOADS.json is a list of CSV payloads for the endpoint "tree", queued in that order. The driver
drains them with a real lane while counting the filesystem steps it makes inside the queue
directory; just before each step k it copies the queue directory and the store: the disk a worker
SIGKILLed at that instant leaves behind (a killed process loses nothing it handed to the kernel,
and the copy is taken with the step not yet made). Then, for every k, it restarts on that copy as
a new worker would (``Queue.recover``, then a lane drains) and prints one JSON line
{"k", "cells", "states"}. One drain per kill point instead of a process start and two drains
keeps the test short; real SIGKILLs of the worker process are tests/e2e's kill storm.

A lane merges a batch while the moves of the one before are under way; a merge holds the
counter's lock, so a copy shows the store before or after a whole merge (a store caught mid-write
is the engine's crash tests' business), with the queue at any step of the moves.

BROKEN (for the test that the check can fail): "reverse-moves-without-record" completes batches
without a record and moves their items in reverse id order - the broken order a crash must expose.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import shared.queue  # noqa: E402
from shared.fuse import load_schema, open_store  # noqa: E402
from shared.fuse.node import Node  # noqa: E402
from shared.queue import Queue  # noqa: E402
from shared.queue.batches import CommittedBatch  # noqa: E402

from worker.lane import Lane, LaneConfig  # noqa: E402
from worker.metrics import WorkerMetrics  # noqa: E402

ENDPOINT = "tree"


class StepCounter:
    """Wraps the os calls that change the queue directory; calls `before_step(k)` before each one."""

    def __init__(self, queue_dir: Path, before_step) -> None:
        self.queue_dir = str(queue_dir)
        self.before_step = before_step
        self.steps = 0
        self.lock = threading.Lock()
        self.jitter = random.Random(20261201)

    def _inside(self, path: object) -> bool:
        return os.fspath(path).startswith(self.queue_dir) if isinstance(path, (str, os.PathLike)) else False

    def _step(self, operation, *args, **kwargs):
        # Step and copy under one lock, so the copy never sees another thread's step half made.
        with self.lock:
            self.steps += 1
            self.before_step(self.steps)
            result = operation(*args, **kwargs)
            pause = self.jitter.random() * 0.002
        # Seeded jitter between steps lets parallel threads interleave in many orders, the way a
        # loaded machine makes them, yet the same way at every run.
        time.sleep(pause)
        return result

    def install(self) -> None:
        real = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "fsync", "open")}

        def replace(src, dst, *args, **kwargs):
            if self._inside(dst):
                return self._step(real["replace"], src, dst, *args, **kwargs)
            return real["replace"](src, dst, *args, **kwargs)

        def rename(src, dst, *args, **kwargs):
            if self._inside(dst):
                return self._step(real["rename"], src, dst, *args, **kwargs)
            return real["rename"](src, dst, *args, **kwargs)

        def unlink(path, *args, **kwargs):
            if self._inside(path):
                return self._step(real["unlink"], path, *args, **kwargs)
            return real["unlink"](path, *args, **kwargs)

        def fsync(fd):
            try:
                target = os.readlink(f"/proc/self/fd/{fd if isinstance(fd, int) else fd.fileno()}")
            except OSError:
                target = ""
            if target.startswith(self.queue_dir):
                return self._step(real["fsync"], fd)
            return real["fsync"](fd)

        def open_(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and self._inside(path):
                return self._step(real["open"], path, flags, *args, **kwargs)
            return real["open"](path, flags, *args, **kwargs)

        self.real = real
        os.replace, os.rename, os.unlink, os.fsync, os.open = replace, rename, unlink, fsync, open_
        self.real_merge = Node.merge
        lock, real_merge = self.lock, Node.merge

        def merge(node, *args, **kwargs):
            with lock:  # no copy of a store half written by a merge overlapping the moves
                return real_merge(node, *args, **kwargs)

        Node.merge = merge

    def uninstall(self) -> None:
        for name, function in self.real.items():
            setattr(os, name, function)
        Node.merge = self.real_merge


def break_completion() -> None:
    """No record (nothing to finish from after a crash), and the moves in reverse id order."""
    real_finish = shared.queue.finish_batch

    def commit_without_record(queue, items, outcomes, batch):
        ordered = sorted(zip(items, outcomes), key=lambda pair: pair[0].id)
        sidecars = tuple(item.sidecar.updated(revision=item.sidecar.revision + 1, attempts=item.sidecar.attempts + 1,
                                              batch=batch, **outcome) for item, outcome in ordered)
        return CommittedBatch(items[0].endpoint, tuple(item for item, _ in ordered), sidecars,
                              tuple(s.to_json().encode() for s in sidecars), queue.root / "no-record.json")

    def finish_in_reverse(queue, committed, *, pool=None):
        return real_finish(queue, CommittedBatch(committed.endpoint, committed.items[::-1], committed.sidecars[::-1],
                                                 committed.texts[::-1], committed.record), pool=None)

    shared.queue.commit_batch, shared.queue.finish_batch = commit_without_record, finish_in_reverse


def drain(queue_dir: Path, store_root: Path, schema_path: Path, config: LaneConfig) -> None:
    """What a (re)started worker does for one endpoint: recover, then merge everything waiting."""
    queue = Queue(queue_dir)
    queue.recover()
    lane = Lane(ENDPOINT, load_schema(schema_path), queue, config, WorkerMetrics(), threading.Event(),
                environ={"STORE_ROOT": str(store_root)})
    lane.drain_once()  # returns once the last completion is through


def report(queue_dir: Path, store_root: Path, schema_path: Path) -> dict:
    counts = Queue(queue_dir).counts()
    states = {state: per.get(ENDPOINT, 0) for state, per in counts.items()}
    with open_store(load_schema(schema_path), environ={"STORE_ROOT": str(store_root)}) as root:
        table = root.read_df()
    cells = {f"{row.time}|{row.tree_id}": float(row.sap_flow) for row in table.itertuples() if row.sap_flow == row.sap_flow}
    return {"states": states, "cells": cells}


def main() -> int:
    work, schema_path, uploads_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    config = LaneConfig(batch_items=int(sys.argv[4]), batch_rows=100_000, poll_seconds=0.1, retry_max_seconds=1.0,
                        move_threads=int(sys.argv[5]))
    if sys.argv[6:] == ["reverse-moves-without-record"]:
        break_completion()
    elif sys.argv[6:]:
        raise SystemExit(f"unknown BROKEN {sys.argv[6]!r}")
    queue_dir, store_root = work / "queue", work / "stores"
    store_root.mkdir(parents=True)
    queue = Queue(queue_dir)
    for payload in json.loads(uploads_path.read_text()):
        queue.enqueue(ENDPOINT, payload.encode(), format="csv")

    def snapshot(k: int) -> None:
        target = work / f"crash-{k}"
        shutil.copytree(queue_dir, target / "queue", copy_function=shutil.copy)
        shutil.copytree(store_root, target / "stores", copy_function=shutil.copy)

    counter = StepCounter(queue_dir, snapshot)
    counter.install()
    try:
        drain(queue_dir, store_root, schema_path, config)
    finally:
        counter.uninstall()
    if Queue(queue_dir).counts()["accepted"].get(ENDPOINT):
        raise RuntimeError("the drain without a crash left items waiting")
    print(json.dumps({"steps": counter.steps}), flush=True)
    for k in range(1, counter.steps + 1):
        crashed = work / f"crash-{k}"
        drain(crashed / "queue", crashed / "stores", schema_path, config)
        print(json.dumps({"k": k, **report(crashed / "queue", crashed / "stores", schema_path)}), flush=True)
        shutil.rmtree(crashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
