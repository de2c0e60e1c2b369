"""Walking a region of an array chunk by chunk, so that moving stored data (the journal's
backups, an insert's shifted tail) holds a few chunks in memory whatever the size of the store.

A box here is a tuple of slices that lies within one chunk of the array's chunk grid: writing
it touches one chunk, reading it at most one. Boxes are processed a few at a time, so S3
round trips overlap while memory stays bounded by ``IN_FLIGHT`` boxes.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Awaitable, Callable, Iterable, Iterator

import numpy as np
import zarr

IN_FLIGHT = 4          # boxes of one array read or written at the same time


def chunk_boxes(where: tuple[slice, ...], chunks: tuple[int, ...], reverse: bool = False,
                inner: int | None = None) -> Iterator[tuple[slice, ...]]:
    """The boxes that tile ``where`` along chunk boundaries, in C order of the chunk grid (or
    its reverse); with ``inner``, that axis varies fastest (consecutive boxes along it)."""
    edges = []
    for s, size in zip(where, chunks):
        start, stop = s.start, s.stop
        if stop <= start:
            return
        cuts = [start] + list(range((start // size + 1) * size, stop, size)) + [stop]
        edges.append([slice(a, b) for a, b in zip(cuts, cuts[1:])])
    order = list(range(len(edges)))
    if inner is not None:
        order.remove(inner)
        order.append(inner)
    for picked in itertools.product(*(edges[k][::-1] if reverse else edges[k] for k in order)):
        box = [slice(0)] * len(edges)
        for k, s in zip(order, picked):
            box[k] = s
        yield tuple(box)


async def run_bounded(jobs: Iterable[Callable[[], Awaitable[None]]], limit: int = IN_FLIGHT) -> None:
    """Run ``jobs`` (made lazily, one at a time) with at most ``limit`` running; the first
    failure is raised once the running ones have ended (none is left writing behind it)."""
    running: set[asyncio.Task] = set()
    failure: BaseException | None = None
    for job in jobs:
        if len(running) >= limit:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            failure = failure or next((t.exception() for t in done if t.exception()), None)
        if failure is not None:
            break
        running.add(asyncio.ensure_future(job()))
    if running:
        done, _ = await asyncio.wait(running)
        failure = failure or next((t.exception() for t in done if t.exception()), None)
    if failure is not None:
        raise failure


async def gather_all(operations: list[Awaitable]) -> list:
    """Await all; raise the first failure once all have ended."""
    outcomes = await asyncio.gather(*operations, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def shifted(box: tuple[slice, ...], axis: int, offset: int) -> tuple[slice, ...]:
    """``box`` moved by ``offset`` positions along ``axis``."""
    return tuple(slice(s.start + offset, s.stop + offset) if i == axis else s
                 for i, s in enumerate(box))


async def copy_region(source: zarr.Array, target: zarr.Array, where: tuple[slice, ...],
                      axis: int, offset: int) -> None:
    """Copy ``source[where]`` to ``target[where moved by offset along axis]`` chunk by chunk
    (boxes follow the source's chunks; the caller makes the target's chunks line up)."""
    src, dst = source.async_array, target.async_array

    def job(box: tuple[slice, ...]) -> Callable[[], Awaitable[None]]:
        async def copy() -> None:
            block = np.asarray(await src.getitem(box))
            await dst.setitem(shifted(box, axis, offset), block)
        return copy

    await run_bounded(job(box) for box in chunk_boxes(where, tuple(source.chunks)))
