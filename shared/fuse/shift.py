"""Rewriting the part of an array whose stored values move (an insert before the end of a sorted
coordinate), chunk by chunk, after the journal has backed it up (journal.py).

The rewritten region runs along one axis from a chunk boundary to the end. Each box of it
(within one chunk) is built from the old values that land there, NA at the new positions and
the upload's cells inside it, then written whole. Every old position moves to a later or the
same position along every axis (``old_to_new`` only grows), so the old values of a box are one
contiguous block at or before it: memory holds a few boxes, never the region, and the cost is
the region's chunks.

The old values are read from the array itself, like a memmove from the end: boxes go in
reverse chunk order (the shifted axis fastest), a few consecutive ones at a time, each group's
old values read in one piece (each chunk decoded once) before the group is written. A later
group needs only positions before its own end, which no earlier group has written. A rewrite
cut off half-way is undone from the backup by the journal's rollback.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Iterator

import numpy as np
import zarr

from . import writes
from .chunked import IN_FLIGHT, chunk_boxes, gather_all
from .plan import Cells


def rewrite(arr: zarr.Array, shape: tuple[int, ...], axis: int, start: int,
            moved: list[np.ndarray], cells: Cells | None) -> Awaitable[None]:
    """Grow ``arr`` to ``shape`` and rewrite it from position ``start`` of ``axis`` on.

    ``moved[k]`` is the new position of each old position along dimension ``k`` (ascending);
    ``cells`` the upload's cells of ``arr``.
    """
    inside = outside = None
    if cells is not None:
        late = cells.index[axis] >= start
        inside, outside = cells.select(late), cells.select(~late)
    where = tuple(slice(start, n) if i == axis else slice(0, n) for i, n in enumerate(shape))
    chunks = tuple(arr.chunks)
    by_box = _cells_by_box(inside, chunks)
    target = arr.async_array

    def old_span(box: tuple[slice, ...]) -> list[tuple[int, int]]:
        """The old positions that land in ``box``, per axis (contiguous: ``moved`` ascends)."""
        return [tuple(int(i) for i in np.searchsorted(positions, [s.start, s.stop]))
                for s, positions in zip(box, moved)]

    def build(box: tuple[slice, ...], span: list[tuple[int, int]], old: np.ndarray | None,
              origin: list[int]) -> np.ndarray:
        block = np.full(tuple(s.stop - s.start for s in box), arr.fill_value, dtype=arr.dtype)
        if old is not None and all(hi > lo for lo, hi in span):
            new = [positions[lo:hi] - s.start for (lo, hi), s, positions in zip(span, box, moved)]
            block[np.ix_(*new)] = old[tuple(slice(lo - o, hi - o)
                                            for (lo, hi), o in zip(span, origin))]
        mine = by_box(box)
        if mine is not None:
            block[tuple(ix - s.start for ix, s in zip(mine.index, box))] = mine.values
        return block

    async def run() -> None:
        if tuple(target.shape) != tuple(shape):
            await target.resize(shape)
        for group in _groups(chunk_boxes(where, chunks, reverse=True, inner=axis), axis):
            # the old values of the whole group in one read: each chunk decoded once
            spans = [old_span(box) for box in group]
            origin = [min(span[k][0] for span in spans) for k in range(len(shape))]
            end = [max(span[k][1] for span in spans) for k in range(len(shape))]
            old = None
            if all(e > o for o, e in zip(origin, end)):
                old = np.asarray(await target.getitem(tuple(slice(o, e)
                                                            for o, e in zip(origin, end))))
            blocks = [build(box, span, old, origin) for box, span in zip(group, spans)]
            del old                              # read whole, then written
            await gather_all([target.setitem(box, block) for box, block in zip(group, blocks)])
        if outside is not None and len(outside):
            await writes.write_cells(target, outside)
    return run()


def _groups(boxes: Iterator[tuple[slice, ...]], axis: int) -> Iterator[list[tuple[slice, ...]]]:
    """Up to IN_FLIGHT consecutive boxes along ``axis`` that share the other axes' ranges."""
    group: list[tuple[slice, ...]] = []
    for box in boxes:
        if group and (len(group) == IN_FLIGHT or
                      any(a != b for k, (a, b) in enumerate(zip(group[0], box)) if k != axis)):
            yield group
            group = []
        group.append(box)
    if group:
        yield group


def _cells_by_box(cells: Cells | None, chunks: tuple[int, ...]
                  ) -> Callable[[tuple[slice, ...]], Cells | None]:
    """A lookup of the cells inside one box (boxes lie within one chunk): cells grouped by
    chunk once, so a large upload is not scanned again for every box."""
    if cells is None or not len(cells):
        return lambda box: None
    grid = tuple(ix // c for ix, c in zip(cells.index, chunks))
    order = np.lexsort(grid[::-1])
    keys = np.stack([g[order] for g in grid], axis=1)
    bounds = np.flatnonzero(np.any(keys[1:] != keys[:-1], axis=1)) + 1
    groups: dict[tuple[int, ...], np.ndarray] = {
        tuple(int(v) for v in keys[a]): order[a:b]
        for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(order)])}

    def lookup(box: tuple[slice, ...]) -> Cells | None:
        rows = groups.get(tuple(s.start // c for s, c in zip(box, chunks)))
        if rows is None:
            return None
        mine = Cells(tuple(ix[rows] for ix in cells.index), cells.values[rows])
        mask = np.ones(len(rows), dtype=bool)   # a box may cover only part of its chunk
        for ix, s in zip(mine.index, box):
            mask &= (ix >= s.start) & (ix < s.stop)
        return mine.select(mask)
    return lookup

