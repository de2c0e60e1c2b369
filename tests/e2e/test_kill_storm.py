"""Kill storm: the real worker process SIGKILLed again and again while uploads keep overwriting cells.

Upload n writes the value n into cell n // 2, so every cell is written twice, by consecutive
uploads, and never again: a kill that lets the earlier of the two be merged again after the later
one shows in the store for good (a single overwritten cell would hide it under the next batch).
The oracle is acceptance order (DESIGN.md section 3, rule 3): once a last worker has drained the
queue, each cell holds the value of the last accepted upload that wrote it, and every upload is
done. KILL_STORM_KILLS sets the number of kills (default 3; more for a longer run).
"""
from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timedelta

from shared.queue import Queue

from e2e_stack import open_local_dataset, wait_until

START = datetime(2026, 6, 14)
KILLS = int(os.environ.get("KILL_STORM_KILLS", "3"))


def test_sigkills_during_a_stream_of_overwrites_leave_the_last_accepted_value(make_stack, tmp_path):
    stores = tmp_path / "stores"
    stack = make_stack(stores={"tree": f"local:{stores}"}, extra_env={"WORKER_NICE": "0"})
    queue = Queue(stack.queue_dir)
    rng = random.Random(11)
    accepted: list[int] = []
    stop = threading.Event()

    def feed() -> None:
        # Bursts, so that batches of many items are merged and completed while the kills come.
        value = 0
        # Until the last kill (bounded): on a fast machine a fixed count was all merged before the
        # third worker started, which then had nothing to merge and nothing to be killed in.
        while not stop.is_set() and value < 20_000:
            for _ in range(rng.randrange(20, 120)):
                value += 1
                moment = START + timedelta(minutes=value // 2)
                queue.enqueue("tree", f"timestamp,tree_id,sap_flow\n{moment:%Y-%m-%d %H:%M:%S},oak-01,{value}\n".encode(),
                              format="csv")
                accepted.append(value)
            time.sleep(rng.uniform(0.05, 0.3))

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        for kill in range(KILLS):
            worker = stack.start_worker(f"worker-{kill}")
            wait_until(lambda: "event=merged" in worker.log() or not worker.alive() or not feeder.is_alive(), 90,
                       "the worker merges")
            assert worker.alive(), worker.log()[-3000:]
            time.sleep(rng.uniform(0.0, 1.5))
            worker.kill()  # SIGKILL: no clean-up; the next worker's recover() repairs
    finally:
        stop.set()
        feeder.join(30)
    last = stack.start_worker("worker-last")
    stack.wait_drained(len(accepted), timeout=180)
    last.stop()

    assert stack.count("failed") == 0 and stack.count("accepted") == 0
    model = {cell: float(value) for value, cell in ((v, v // 2) for v in accepted)}  # later wins
    data = open_local_dataset(stores / "tree.zarr")
    values = data["sap_flow"].sel(tree_id="oak-01").values
    assert len(values) == len(model)
    wrong = {cell: (values[cell], expected) for cell, expected in model.items() if values[cell] != expected}
    assert not wrong, f"cells holding an older upload's value (cell: (stored, last accepted)): {wrong}"
