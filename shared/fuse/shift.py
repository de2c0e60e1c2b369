"""Rewriting the part of an array whose stored values move (an insert before the end of a sorted
coordinate), chunk by chunk, after the journal has backed it up (journal.py).

The rewritten region runs along one axis from a chunk boundary to the end. Each box of it
(within one chunk) is built from the old values that land there, NA at the new positions and
the upload's cells inside it, then written whole. Every old position moves to a later or the
same position along every axis (``old_to_new`` only grows), so the old values of a box are one
contiguous block at or before it: memory holds a few boxes, never the region, and the cost is
the region's chunks.

The old values are read from the array itself, like a memmove from the end: boxes go in
reverse chunk order, a few at a time, each group read whole before it is written. A later
group needs only positions before its own end, which no earlier group has written. A rewrite
cut off half-way is undone from the backup by the journal's rollback.
"""
from __future__ import annotations

import itertools
from typing import Awaitable, Callable

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

    async def build(box: tuple[slice, ...]) -> np.ndarray:
        block = np.full(tuple(s.stop - s.start for s in box), arr.fill_value, dtype=arr.dtype)
        old, new = [], []
        for s, positions in zip(box, moved):
            lo, hi = np.searchsorted(positions, [s.start, s.stop])
            old.append(slice(int(lo), int(hi)))
            new.append(positions[lo:hi] - s.start)
        if all(len(n) for n in new):
            block[np.ix_(*new)] = np.asarray(await target.getitem(tuple(old)))
        mine = by_box(box)
        if mine is not None:
            block[tuple(ix - s.start for ix, s in zip(mine.index, box))] = mine.values
        return block

    async def run() -> None:
        if tuple(target.shape) != tuple(shape):
            await target.resize(shape)
        boxes = chunk_boxes(where, chunks, reverse=True)
        while group := list(itertools.islice(boxes, IN_FLIGHT)):
            blocks = await gather_all([build(box) for box in group])     # all read, then written
            await gather_all([target.setitem(box, block) for box, block in zip(group, blocks)])
        if outside is not None and len(outside):
            await writes.write_cells(target, outside)
    return run()


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

