"""Forking server of the crash-at-every-step test (test_fuse_insert_crash.py).

Imports everything once, then reads one JSON request per line on stdin:
``{"root", "schema", "upload", "crash_at", "count_file"}``. For each it forks a process that
merges the upload into the local store under ``root`` with every store mutation (set, delete)
of zarr's LocalStore counted and run one at a time; the ``crash_at``-th mutation is never
done: the process ends there with ``os._exit`` (no cleanup, no flush: a crash). Without
``crash_at`` the merge runs to its end and the number of mutations goes to ``count_file``.
Prints the child's exit status ("exit N") per request.

The server itself never starts zarr's event loop (its thread would not survive the fork).
"""
import asyncio
import json
import os
import sys
from pathlib import Path

import pandas as pd
import xarray  # noqa: F401  imported once here, so each forked merge starts in milliseconds
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import shared.fuse  # noqa: E402
from shared.fuse import open_store  # noqa: E402

CRASHED = 86
MUTATIONS = ("set", "set_if_not_exists", "delete", "delete_dir")

shared.fuse.units.registry()    # built once, not in every forked merge


def count_mutations(crash_at: int | None) -> list[int]:
    """Wrap LocalStore's mutations: one at a time, counted, the ``crash_at``-th one a crash."""
    count = [0]
    lock: list[asyncio.Lock] = []

    def wrap(original):
        async def mutation(self, *args, **kwargs):
            if not lock:
                lock.append(asyncio.Lock())
            async with lock[0]:            # none in flight when the crash comes
                count[0] += 1
                if count[0] == crash_at:
                    os._exit(CRASHED)
                return await original(self, *args, **kwargs)
        return mutation

    for name in MUTATIONS:
        setattr(zarr.storage.LocalStore, name, wrap(getattr(zarr.storage.LocalStore, name)))
    return count


def merge(request: dict) -> None:
    count = count_mutations(request.get("crash_at"))
    node = open_store(json.loads(Path(request["schema"]).read_text()),
                      environ={"STORE_ROOT": request["root"]})
    prepared = node.prepare(pd.read_pickle(request["upload"]))
    start = count[0]               # opening an existing store writes nothing; counted anyway
    node.merge([prepared])
    if request.get("count_file"):
        Path(request["count_file"]).write_text(json.dumps({"open": start, "total": count[0]}))


print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            merge(request)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)
