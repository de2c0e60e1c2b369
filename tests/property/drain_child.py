"""Forking drain server of the property tests (see pipeline.py).

Reads one JSON request per line on stdin, forks a process that drains the queue, prints the
child's pid, waits for it and prints its exit status ("exit 0", "killed 9").
"""
import json
import os
import sys

import pandas  # noqa: F401  imported once here, so each forked drain starts in milliseconds
import xarray  # noqa: F401
import zarr  # noqa: F401

from pipeline import drain  # noqa: E402
import shared.fuse  # noqa: F401,E402
import worker.lane  # noqa: F401,E402

shared.fuse.units.registry()  # built once (~0.3 s), not in every forked drain
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            drain(request["queue_dir"], request["schema"], request["environ"],
                  move_threads=request["move_threads"])
        except BaseException:
            code = 1
        os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"killed {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
          else f"exit {os.WEXITSTATUS(status)}", flush=True)
