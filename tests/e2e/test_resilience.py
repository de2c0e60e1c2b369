"""Nothing acknowledged is lost or reordered: worker kills, an S3 outage."""
from __future__ import annotations

import random
import re
import threading
import time

import pytest
import requests
import xarray as xr

from shared.queue import Queue

from e2e_stack import open_local_dataset, open_s3_dataset, single_row_csv, wait_until

pytestmark = [pytest.mark.slow]


def test_killing_the_worker_20_times_during_a_stream_loses_nothing_and_changes_nothing(make_stack, tmp_path):
    rng = random.Random(20261124)
    bodies = [single_row_csv(rng, index) for index in range(200)]
    small_batches = {"WORKER_BATCH_ITEMS": "5"}  # more merges, so kills land in the middle of one

    stack = make_stack("killed", store_root=tmp_path / "killed-stores", extra_env=small_batches)
    stack.start_gateway()
    accepted: list[str] = []
    errors: list[BaseException] = []

    def stream() -> None:
        session = requests.Session()
        try:
            for body in bodies:
                accepted.append(stack.upload("tree", body, session=session))
                time.sleep(0.15)
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    kills = 0
    while kills < 20:
        worker = stack.start_worker(f"worker-{kills}")
        time.sleep(rng.uniform(1.0, 3.5))
        worker.kill()  # SIGKILL
        kills += 1
    sender.join(120)
    assert not errors and len(accepted) == 200

    stack.start_worker("worker-final")
    stack.wait_drained(200, 120)
    assert sorted(stack.ids("done")) == sorted(accepted)
    assert stack.count("failed") == 0 and stack.count("accepted") == 0 and stack.count("active") == 0

    reference = make_stack("reference", store_root=tmp_path / "reference-stores", extra_env=small_batches)
    queue = Queue(reference.queue_dir)
    for body in bodies:
        queue.enqueue("tree", body.encode(), format="csv")
    reference.start_worker()
    reference.wait_drained(200, 120)

    killed = open_local_dataset(tmp_path / "killed-stores" / "zarr-fuse-ingress" / "tree.zarr")
    calm = open_local_dataset(tmp_path / "reference-stores" / "zarr-fuse-ingress" / "tree.zarr")
    xr.testing.assert_identical(killed, calm)


@pytest.mark.s3
def test_an_s3_outage_of_30_seconds_fails_nothing_keeps_order_and_other_endpoints_merge(
    make_stack, moto, proxy, tmp_path
):
    stack = make_stack(stores={"tree": proxy.url, "weather": f"local:{tmp_path / 'local-stores'}"})
    stack.start_gateway()
    worker = stack.start_worker()
    tree_ids: list[str] = []
    weather_ids: list[str] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def stream() -> None:
        session = requests.Session()
        index = 0
        try:
            while not stop.is_set():
                body = ("timestamp,tree_id,sap_flow\n"
                        f"2026-06-14 06:00:00,oak-01,{index}\n"
                        f"2026-06-15 {index // 60 % 24:02d}:{index % 60:02d}:00,beech-07,{index}\n")
                tree_ids.append(stack.upload("tree", body, session=session))
                if index % 4 == 0:
                    weather_ids.append(stack.upload(
                        "weather", "timestamp,lat,lon,temp_f\n"
                        f"2026-11-03T{index // 60 % 24:02d}:{index % 60:02d}:00Z,50.7663,15.0543,{index % 100}\n",
                        session=session))
                index += 1
                time.sleep(0.1)
        except BaseException as error:
            errors.append(error)

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    wait_until(lambda: stack.count("done", "tree") >= 5, 60, "tree merging before the outage")

    proxy.down()
    time.sleep(3)  # let the merge in flight finish or fail
    tree_done_at_start = stack.count("done", "tree")
    weather_done_at_start = stack.count("done", "weather")
    time.sleep(27)
    assert stack.count("done", "tree") == tree_done_at_start  # S3 really was unreachable
    assert stack.count("done", "weather") > weather_done_at_start + 10  # the healthy store kept merging
    assert stack.count("failed") == 0
    assert stack.count("accepted", "tree") > 50
    proxy.up()

    time.sleep(3)
    stop.set()
    sender.join(30)
    assert not errors
    stack.wait_drained(len(tree_ids), 120, endpoint="tree")
    stack.wait_drained(len(weather_ids), 60, endpoint="weather")
    assert stack.count("failed") == 0

    log = worker.log()
    assert "event=retrying" in log
    merged_tree = [m for m in re.findall(r"event=merged upload_id=(\S+) endpoint=tree", log)]
    assert merged_tree == tree_ids  # order kept through the outage
    tree = open_s3_dataset(moto.url, "zarr-fuse-ingress/tree.zarr")
    assert float(tree.sap_flow.sel(tree_id="oak-01").dropna("time").item()) == len(tree_ids) - 1
    assert int(tree.sap_flow.sel(tree_id="beech-07").count()) == len(tree_ids)
