"""The spool protocol: durable publication, id order, state changes, crash repair, idempotency."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from shared.queue import (
    ACCEPTED, ACTIVE, DONE, FAILED, ID_PATTERN, Queue, QueueError, Sidecar, format_id, id_time,
)

CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,118.2\n"


def enqueue(queue: Queue, endpoint: str = "tree", payload: bytes = CSV, **fields) -> Sidecar:
    fields.setdefault("format", "csv")
    return queue.enqueue(endpoint, payload, **fields)


def age(path: Path, seconds: float) -> None:
    """Make a file look `seconds` old (mtime; ctime cannot be set, so callers use old enough values)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_enqueue_publishes_payload_and_sidecar_in_accepted_with_matching_sha256(tmp_path):
    queue = Queue(tmp_path)
    sidecar = enqueue(queue, node_path="a/b", username="test", content_type="text/csv")
    folder = tmp_path / "accepted" / "tree"
    payload = folder / f"{sidecar.id}.csv"
    assert payload.read_bytes() == CSV
    on_disk = json.loads((folder / f"{sidecar.id}.csv.meta.json").read_text())
    assert on_disk["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert on_disk["size"] == len(CSV)
    assert on_disk["node_path"] == "a/b" and on_disk["username"] == "test"
    assert on_disk["received_at"].endswith("Z")
    assert os.listdir(tmp_path / "tmp") == []


def test_ids_are_fixed_width_and_sort_in_acceptance_order(tmp_path):
    queue = Queue(tmp_path)
    ids = [enqueue(queue).id for _ in range(200)]
    assert all(ID_PATTERN.fullmatch(i) for i in ids)
    assert len(set(ids)) == 200 and ids == sorted(ids)
    assert abs(id_time(ids[0]).timestamp() - time.time()) < 60


def test_ids_keep_increasing_when_the_clock_is_behind_the_last_id(tmp_path):
    queue = Queue(tmp_path)
    future = time.time_ns() + 3600 * 10**9  # as if the wall clock stepped back an hour
    (tmp_path / "ids.counter").write_text(f"{future:020d}\n")
    first, second = enqueue(queue).id, enqueue(queue).id
    assert first == format_id(future + 1) and second == format_id(future + 2)


def test_the_counter_counts_every_id_handed_out_and_reads_a_counter_of_the_old_form(tmp_path):
    queue = Queue(tmp_path)
    assert queue.ids_handed_out() == 0  # before the first upload: no counter file yet
    (tmp_path / "ids.counter").write_text(f"{time.time_ns():020d}\n")  # written before the count was kept
    assert queue.ids_handed_out() == 0
    ids = [enqueue(queue).id for _ in range(5)]
    assert queue.ids_handed_out() == 5 and ids == sorted(ids)


def _take_ids(root: str, count: int, out) -> None:
    queue = Queue(Path(root))
    out.put([queue._next_id() for _ in range(count)])


def test_ids_from_concurrent_processes_are_unique_and_increasing_per_process(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_ids, args=(str(tmp_path), 300, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    everything = [i for ids in results for i in ids]
    assert len(set(everything)) == len(everything) == 1200
    assert all(ids == sorted(ids) for ids in results)
    assert Queue(tmp_path).ids_handed_out() == 1200  # the count of four processes, none lost


def test_scan_sees_whole_items_only_in_id_order_across_endpoints(tmp_path):
    queue = Queue(tmp_path)
    a = enqueue(queue, "tree")
    b = enqueue(queue, "weather")
    c = enqueue(queue, "tree")
    (tmp_path / "tmp" / "20260101T000000_000000000Z.csv").write_bytes(CSV)
    (tmp_path / "accepted" / "tree" / "20260101T000000_000000001Z.csv").write_bytes(CSV)  # no sidecar
    lonely = tmp_path / "accepted" / "tree" / "20260101T000000_000000002Z.csv.meta.json"
    lonely.write_text((tmp_path / "accepted" / "tree" / f"{a.id}.csv.meta.json").read_text())
    assert [i.id for i in queue.scan()] == [a.id, b.id, c.id]
    assert [i.id for i in queue.scan("tree")] == [a.id, c.id]
    assert [i.id for i in queue.scan(limit=2)] == [a.id, b.id]


def test_find_follows_an_item_through_claim_complete(tmp_path):
    queue = Queue(tmp_path)
    sidecar = enqueue(queue)
    assert queue.find(sidecar.id).state == ACCEPTED
    item = queue.claim(queue.scan()[0])
    assert queue.find(sidecar.id).state == ACTIVE and queue.scan() == []
    done = queue.complete(item, rows=1, batch="b1")
    found = queue.find(sidecar.id)
    assert found.state == DONE and found.sidecar.rows == 1 and found.sidecar.batch == "b1"
    assert found.sidecar.merged_at and found.sidecar.attempts == 1
    assert found.payload_path == done.payload_path and found.read_payload() == CSV
    assert sorted(os.listdir(tmp_path / "accepted" / "tree")) == []
    assert sorted(os.listdir(tmp_path / "active" / "tree")) == []


def test_failed_item_keeps_reason_and_retry_requeues_it_with_its_id(tmp_path):
    queue = Queue(tmp_path)
    first = enqueue(queue)
    later = enqueue(queue)
    failed = queue.fail(queue.claim(queue.scan()[0]), "column x: not a number", "Traceback ...")
    assert queue.find(first.id).state == FAILED
    assert failed.sidecar.error == "column x: not a number" and failed.sidecar.failed_at
    queue.retry(first.id)
    assert [i.id for i in queue.scan()] == [first.id, later.id]  # back in its place
    assert queue.find(first.id).sidecar.error is None
    with pytest.raises(QueueError):
        queue.retry(first.id)  # not failed any more


def test_release_puts_an_active_item_back_with_one_more_attempt(tmp_path):
    queue = Queue(tmp_path)
    sidecar = enqueue(queue)
    released = queue.release(queue.claim(queue.scan()[0]))
    assert released.state == ACCEPTED and released.sidecar.attempts == 1
    assert [i.id for i in queue.scan()] == [sidecar.id]
    with pytest.raises(QueueError):
        queue.release(released)


def test_depth_counts_waiting_items_only(tmp_path):
    queue = Queue(tmp_path)
    for _ in range(3):
        enqueue(queue)
    queue.complete(queue.claim(queue.scan()[0]))
    queue.claim(queue.scan()[0])
    assert Queue(tmp_path).depth() == 2  # one accepted, one active
    assert queue.waiting_by_endpoint()["tree"][0] == 2


def test_depth_of_a_slow_listing_is_counted_in_the_background_and_a_recount_is_fresh(tmp_path, monkeypatch):
    import shared.queue as queue_module

    monkeypatch.setattr(queue_module, "DEPTH_SLOW_SECONDS", 0.0)  # every listing counts as slow
    gateway, other = Queue(tmp_path), Queue(tmp_path)  # two gateway processes, say
    for _ in range(3):
        enqueue(other)
    assert gateway.depth() == 3  # the first count is made at once
    for _ in range(2):
        enqueue(other)  # unseen by `gateway` until its next count
    assert gateway.depth() == 3  # not due yet
    time.sleep(queue_module.DEPTH_CACHE_SECONDS + 0.1)
    # Due: answered at once, from the last count, while the new count runs in a thread (which
    # may finish first: then the new one); the new count arrives without another call doing it.
    assert gateway.depth() in (3, 5)
    deadline = time.monotonic() + 10
    while gateway.depth() != 5:
        assert time.monotonic() < deadline, "the background count never arrived"
        time.sleep(0.01)
    enqueue(other)
    assert gateway.depth() == 5 and gateway.depth(recount=True) == 5  # counted under a second ago
    time.sleep(queue_module.DEPTH_CACHE_SECONDS + 0.1)
    assert gateway.depth(recount=True) == 6  # a refusal's recount is made here and now


def test_idempotency_key_repeat_returns_the_original_and_queues_nothing(tmp_path):
    queue = Queue(tmp_path)
    first = enqueue(queue, username="u", idempotency_key="k1")
    again = enqueue(queue, username="u", idempotency_key="k1", payload=b"a,b\n1,2\n")
    assert again.id == first.id and again.replayed and not first.replayed
    other_user = enqueue(queue, username="v", idempotency_key="k1")
    other_endpoint = enqueue(queue, "weather", username="u", idempotency_key="k1")
    assert len({first.id, other_user.id, other_endpoint.id}) == 3
    assert len(queue.scan()) == 3


def _enqueue_with_key(root: str, out) -> None:
    queue = Queue(Path(root))
    out.put(queue.enqueue("tree", CSV, format="csv", username="u", idempotency_key="same").id)


def test_concurrent_repeats_of_one_key_in_many_processes_queue_one_item(tmp_path):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_enqueue_with_key, args=(str(tmp_path), out)) for _ in range(6)]
    for p in procs:
        p.start()
    ids = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(ids) == 1
    assert [i.id for i in Queue(tmp_path).scan()] == list(ids)


def test_sidecar_round_trips_and_keeps_unknown_fields(tmp_path):
    queue = Queue(tmp_path)
    sidecar = enqueue(queue)
    record = json.loads(sidecar.to_json())
    record["added_by_a_newer_version"] = 5
    again = Sidecar.from_json(json.dumps(record))
    assert again.extra == {"added_by_a_newer_version": 5}
    assert json.loads(again.to_json()) == record


def test_purge_done_deletes_old_done_items_and_purge_failed_named_ones(tmp_path):
    queue = Queue(tmp_path)
    old, new, bad = (enqueue(queue) for _ in range(3))
    old_item = queue.complete(queue.claim(queue.find(old.id)))
    queue.complete(queue.claim(queue.find(new.id)))
    queue.fail(queue.claim(queue.find(bad.id)), "bad", "tb")
    age(old_item.sidecar_path, 8 * 86400)
    assert queue.purge_done(timedelta(days=7)) == 1
    assert queue.find(old.id) is None and queue.find(new.id).state == DONE
    assert queue.purge_failed([new.id, bad.id]) == 1
    assert queue.find(bad.id) is None and queue.find(new.id).state == DONE


# ---- crash states: each built the way a crash between two steps of a move leaves the disk


def _accepted_item(queue: Queue):
    enqueue(queue)
    return queue.scan()[0]


def test_crash_after_payload_moved_before_sidecar_keeps_the_old_state_and_recover_rejoins(tmp_path):
    queue = Queue(tmp_path)
    item = _accepted_item(queue)
    (tmp_path / "active" / "tree").mkdir(parents=True)
    os.replace(item.payload_path, tmp_path / "active" / "tree" / item.payload_path.name)
    found = queue.find(item.id)
    assert found.state == ACCEPTED and found.payload_path.exists()
    assert queue.scan() == []  # never half an item
    repaired = queue.recover()
    assert [i.id for i in repaired] == [item.id]
    assert [i.id for i in queue.scan()] == [item.id] and queue.scan()[0].read_payload() == CSV


def test_crash_with_two_sidecars_the_higher_revision_wins(tmp_path):
    queue = Queue(tmp_path)
    item = _accepted_item(queue)
    claimed = queue.claim(item)
    # As if the worker died after publishing the done sidecar but before deleting the active one.
    done_dir = tmp_path / "done" / "tree"
    done_dir.mkdir(parents=True)
    newer = claimed.sidecar.updated(revision=claimed.sidecar.revision + 1, rows=1)
    os.replace(claimed.payload_path, done_dir / claimed.payload_path.name)
    (done_dir / claimed.sidecar_path.name).write_text(newer.to_json())
    assert queue.find(item.id).state == DONE
    queue.recover()
    assert queue.find(item.id).state == DONE
    assert os.listdir(tmp_path / "active" / "tree") == []


def test_recover_requeues_active_items_in_their_order(tmp_path):
    queue = Queue(tmp_path)
    a, b = enqueue(queue), enqueue(queue)
    for item in queue.scan():
        queue.claim(item)
    repaired = queue.recover()
    assert {i.id for i in repaired} == {a.id, b.id}
    assert [(i.id, i.sidecar.attempts) for i in queue.scan()] == [(a.id, 1), (b.id, 1)]


def test_recover_moves_old_orphan_payloads_aside_and_keeps_young_ones(tmp_path):
    queue = Queue(tmp_path)
    folder = tmp_path / "accepted" / "tree"
    folder.mkdir(parents=True)
    old = folder / "20260101T000000_000000001Z.csv"
    young = folder / "20260101T000000_000000002Z.csv"
    old.write_bytes(CSV)
    young.write_bytes(CSV)
    queue_module = __import__("shared.queue", fromlist=["STALE_SECONDS"])
    original = queue_module.STALE_SECONDS
    try:
        time.sleep(0.3)
        young.write_bytes(CSV + b"")
        os.utime(young)
        queue_module.STALE_SECONDS = 0.2  # a rename cannot be back-dated: shorten the grace instead
        queue.recover()
    finally:
        queue_module.STALE_SECONDS = original
    assert (tmp_path / "orphans" / "tree" / old.name).read_bytes() == CSV
    assert young.exists()
    assert queue.scan() == []


def test_recover_deletes_leftovers_of_a_purge_and_orphans_lonely_waiting_sidecars(tmp_path):
    queue = Queue(tmp_path)
    a, b = enqueue(queue), enqueue(queue)
    done = queue.complete(queue.claim(queue.find(a.id)))
    done.payload_path.unlink()  # purge interrupted after the payload
    waiting = queue.find(b.id)
    waiting.payload_path.unlink()  # cannot happen by protocol; must still not be dropped
    queue.recover()
    assert queue.find(a.id) is None
    assert (tmp_path / "orphans" / "tree" / waiting.sidecar_path.name).exists()


def test_recover_cleans_tmp_files_older_than_a_minute(tmp_path):
    queue = Queue(tmp_path)
    stale, fresh = tmp_path / "tmp" / "stale.csv", tmp_path / "tmp" / "fresh.csv"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    queue_module = __import__("shared.queue", fromlist=["STALE_SECONDS"])
    original = queue_module.STALE_SECONDS
    try:
        time.sleep(0.3)
        fresh.write_bytes(b"y")
        queue_module.STALE_SECONDS = 0.2
        queue.recover()
    finally:
        queue_module.STALE_SECONDS = original
    assert not stale.exists() and fresh.exists()


# ---- real crashes: a process doing state changes is killed with SIGKILL at random moments


def _churn(root: str) -> None:
    queue = Queue(Path(root))
    while True:
        for item in queue.scan(limit=5):
            claimed = queue.claim(item)
            choice = int(item.id[-3:-1]) % 3
            if choice == 0:
                queue.complete(claimed, rows=1)
            elif choice == 1:
                queue.release(claimed)
            else:
                queue.retry(queue.fail(claimed, "e", "t").id)


def test_sigkill_during_state_changes_leaves_every_item_in_exactly_one_state(tmp_path):
    queue = Queue(tmp_path)
    payloads = {}
    for n in range(40):
        body = CSV + f"extra,{n},1\n".encode()
        payloads[enqueue(queue, payload=body).id] = body
    ctx = multiprocessing.get_context("fork")
    for round_number in range(8):
        proc = ctx.Process(target=_churn, args=(str(tmp_path),))
        proc.start()
        time.sleep(0.05 + 0.037 * round_number)
        os.kill(proc.pid, 9)
        proc.join(timeout=10)
        for upload_id, body in payloads.items():
            found = queue.find(upload_id)
            assert found is not None, upload_id
            assert found.read_payload() == body
        queue.recover()
        states = {}
        for state in (ACCEPTED, ACTIVE, DONE, FAILED):
            for item in queue.items(state):
                assert item.id not in states, f"{item.id} in {states.get(item.id)} and {state}"
                states[item.id] = state
                assert hashlib.sha256(item.read_payload()).hexdigest() == item.sidecar.sha256
        assert set(states) == set(payloads)
        assert ACTIVE not in states.values()


def _publish_for(root: str, seconds: float, out) -> None:
    queue, ids, deadline = Queue(Path(root)), [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids.append(enqueue(queue).id)
    out.put(ids)


def test_recover_while_gateways_publish_never_takes_a_whole_item_for_an_orphan(tmp_path):
    """A worker starting (recover) while gateways publish into a busy accepted/ folder: a listing
    taken during the publishes is no snapshot and can show a sidecar without the payload renamed
    in just before it. Every item a gateway published must stay whole and waiting."""
    queue = Queue(tmp_path)
    with ThreadPoolExecutor(8) as pool:  # a big folder: its listing takes long and hashes the names
        before = list(pool.map(lambda _: enqueue(queue).id, range(3000)))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    publishers = [ctx.Process(target=_publish_for, args=(str(tmp_path), 4.0, out)) for _ in range(2)]
    for process in publishers:
        process.start()
    deadline, rounds = time.monotonic() + 4.0, 0
    while time.monotonic() < deadline:
        queue.recover()
        rounds += 1
    published = [upload_id for _ in publishers for upload_id in out.get(timeout=60)]
    for process in publishers:
        process.join(timeout=60)
    assert rounds >= 3 and len(published) >= 200, (rounds, len(published))
    orphans = sorted(path.name for path in (tmp_path / "orphans").rglob("*") if path.is_file())
    assert not orphans, f"{len(orphans)} whole items taken for orphans, e.g. {orphans[:3]}"
    assert sorted(item.id for item in queue.items("accepted")) == sorted(before + published)
