"""A scan of accepted/ never shows an upload without every upload accepted before it.

One directory listing taken while uploads are published may miss an entry added meanwhile and
still return a later one (ext4's hash-ordered readdir; a kill-storm run merged upload 1653 in a
batch whose scan had missed 1652, then 1652 after it). Model: uploads are published one after
another; the first listing holds every upload published before it began plus any subset of
those published while it ran; the second, taken after it, holds every upload published before
it began. Whatever the listings, what the scan keeps must be a prefix of the published order.
"""
from __future__ import annotations

import os

from hypothesis import given, settings, strategies as st

from shared.queue import SIDECAR_SUFFIX, Queue, format_id, settled_items, whole_items

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))


def names(ids: list[str]) -> list[str]:
    return [name for item in ids for name in (f"{item}.csv", f"{item}.csv{SIDECAR_SUFFIX}")]


@st.composite
def listings(draw):
    count = draw(st.integers(0, 30))
    published = [format_id(1_780_000_000_000_000_000 + 1000 * n) for n in range(count)]
    start_first = draw(st.integers(0, count))  # published before the first listing began
    end_first = draw(st.integers(start_first, count))  # ... before it ended
    during = draw(st.lists(st.booleans(), min_size=end_first - start_first, max_size=end_first - start_first))
    first = published[:start_first] + [p for p, seen in zip(published[start_first:end_first], during) if seen]
    start_second = draw(st.integers(end_first, count))
    second = published[:start_second]
    return published, names(first), names(second)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(listings())
def test_what_a_scan_keeps_is_a_prefix_of_the_published_order(case):
    published, first, second = case
    kept = sorted(name.partition(".")[0] for name in settled_items(whole_items(first), whole_items(second)))
    assert kept == published[: len(kept)]
    assert {name.partition(".")[0] for name in whole_items(first)} <= set(kept)  # nothing the first saw is left


def test_a_listing_that_missed_an_earlier_upload_keeps_nothing_past_it():
    a, b = format_id(1_780_000_000_000_000_000), format_id(1_780_000_000_000_001_000)
    first, second = whole_items(names([b])), whole_items(names([a, b]))
    assert sorted(settled_items(first, second)) == [f"{a}.csv{SIDECAR_SUFFIX}", f"{b}.csv{SIDECAR_SUFFIX}"]
    assert first == [f"{b}.csv{SIDECAR_SUFFIX}"]  # one listing alone would have taken b without a


def test_a_real_scan_keeps_acceptance_order(tmp_path):
    queue = Queue(tmp_path / "queue")
    ids = [queue.enqueue("tree", b"timestamp,v\n2026-01-01,1\n", format="csv").id for _ in range(5)]
    assert [item.sidecar.id for item in queue.scan("tree")] == ids
    assert [item.sidecar.id for item in queue.scan("tree", limit=2)] == ids[:2]
