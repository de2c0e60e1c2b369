"""Store writes of one merge, issued concurrently (one event-loop round trip per phase).

A merge writes in two phases, variables then coordinates (see journal.py for why this order
matters). A coordinate's new values are written before its array grows to show them, so the
coordinate's length in its metadata is the commit point of its values: no stored value is ever
needed as a marker of an unfinished write (SCHEMA.md section 3). Within a phase every array is independent, so their resizes and chunk writes run
concurrently: on S3 this turns a dozen sequential requests into one round of parallel ones.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable

import numpy as np
import zarr
from zarr.core.array import AsyncArray
from zarr.core.buffer import default_buffer_prototype
from zarr.core.indexing import CoordinateIndexer
from zarr.core.sync import sync

from .plan import Cells


def run_all(operations: list[Awaitable]) -> None:
    """Run the operations of one phase concurrently; when all have ended, raise the first failure
    (so no write of a failed merge is still running when the node repairs itself)."""
    if operations:
        async def gather() -> list:
            return await asyncio.gather(*operations, return_exceptions=True)
        for outcome in sync(gather()):
            if isinstance(outcome, BaseException):
                raise outcome


async def grow_and_write(arr: zarr.Array, shape: tuple[int, ...], cells: Cells | None) -> None:
    """Resize ``arr`` to ``shape`` (only ever larger), then write the cells."""
    target = arr.async_array
    if tuple(target.shape) != tuple(shape):
        await target.resize(shape)
    if cells is not None and len(cells):
        await write_cells(target, cells)


async def write_then_grow(arr: zarr.Array, shape: tuple[int, ...],
                          boxes: list[tuple[tuple[slice, ...], np.ndarray]]) -> None:
    """Write ``boxes`` (which cover every new position) through a view of ``arr`` at its new
    ``shape``, then grow the stored shape: cut off before the resize, the array still shows
    exactly its old values (the written tail stays hidden until a later merge overwrites it)."""
    target = arr.async_array
    if tuple(target.shape) == tuple(shape):
        for where, block in boxes:
            await target.setitem(where, block)
        return
    grown = AsyncArray(metadata=target.metadata.update_shape(tuple(shape)),
                       store_path=target.store_path, config=target.config)
    for where, block in boxes:
        await grown.setitem(where, block)
    await target.resize(shape)


async def write_cells(target, cells: Cells) -> None:
    """A dense box at once (no read), a well-filled box read-modify-write, else by points."""
    bounds = cells.bounds()
    box = tuple(slice(lo, hi) for lo, hi in bounds)
    size = int(np.prod([hi - lo for lo, hi in bounds]))
    if size == len(cells):     # cells come in ascending order: the box in C order
        block = np.ascontiguousarray(cells.values, dtype=target.dtype).reshape(
            tuple(hi - lo for lo, hi in bounds))
        await target.setitem(box, block)
        return
    if len(cells) * 4 >= size:
        block = np.asarray(await target.getitem(box))
    else:
        indexer = CoordinateIndexer(cells.index, target.shape, target.metadata.chunk_grid)
        await target._set_selection(indexer, cells.values, prototype=default_buffer_prototype())
        return
    block[tuple(ix - lo for ix, (lo, _) in zip(cells.index, bounds))] = cells.values
    await target.setitem(box, block)
