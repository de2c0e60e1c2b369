"""Items of every payload format survive the worker's start-up repair (Queue.recover)."""
from __future__ import annotations

import pytest

from shared.queue import FORMATS, Queue


@pytest.mark.parametrize("fmt", FORMATS)
def test_recover_keeps_waiting_items_of_every_format(tmp_path, fmt):
    queue = Queue(tmp_path / "q")
    sidecar = queue.enqueue("forecast", b"GRIB...." if fmt.startswith("grib") else b"payload", format=fmt)
    queue.recover()
    assert [item.sidecar.id for item in queue.scan("forecast")] == [sidecar.id]
    assert not any((tmp_path / "q" / "orphans").rglob("*.meta.json"))
