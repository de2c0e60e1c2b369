"""Which waiting items merge together.

A batch is a run of consecutive waiting items (in id order, i.e. acceptance order) of one
endpoint with the same node path, at most ``max_items`` items and ``max_rows`` rows (a single
item larger than ``max_rows`` still forms a batch of its own). Each item is parsed separately so
that a bad one fails alone; the engine then merges the good ones in order, later rows winning,
which is exactly the result of merging them one by one (SCHEMA.md section 4, rule 5).
"""
from __future__ import annotations

import traceback as tb
from dataclasses import dataclass
from typing import Any, Callable, Sequence


@dataclass
class Entry:
    """One item of a batch: its parsed table, or the error that parsing raised."""

    item: Any
    table: Any = None
    error: BaseException | None = None
    traceback: str = ""

    @property
    def rows(self) -> int:
        return 0 if self.table is None else len(self.table)


def plan_batch(
    items: Sequence[Any],
    read: Callable[[Any], Any],
    max_items: int,
    max_rows: int,
) -> list[Entry]:
    """The next batch from the head of ``items`` (waiting items of one endpoint, in id order)."""
    if not items:
        return []
    node_path = items[0].sidecar.node_path
    batch: list[Entry] = []
    rows = 0
    for item in items[: max(1, max_items)]:
        if item.sidecar.node_path != node_path:
            break
        try:
            table = read(item)
        except Exception as error:  # classified by the lane, not here
            batch.append(Entry(item, error=error, traceback=tb.format_exc()))
            continue
        if batch and rows + len(table) > max_rows:
            break
        rows += len(table)
        batch.append(Entry(item, table=table))
    return batch
