"""Crash repair for merges that move stored data (SCHEMA.md section 4, rule 7).

Most merges only append and overwrite cells. Such a merge is safe to repeat at any point: every
cell write is "set this cell to the upload's value", variables are written before coordinates,
and a coordinate array grows only after its new values are written (writes.py), so its stored
length is the commit point: on the next open every variable is cut back to the coordinate
lengths. No stored value is read as a marker (every value of a coordinate's type is valid).
Repeating the upload then rebuilds the same store.

Inserting a value before the end of a sorted coordinate shifts stored data, and a half-done
shift cannot be told from good data. So such a merge runs under a journal:

1. ``backup``: the part of each affected array that will be rewritten (from the chunk of the
   first insert position on) is copied, chunk by chunk, into the group ``__journal__`` of the
   node (backups have the chunks of their arrays, so every copy is one chunk read and written);
2. the group attribute ``__journal__`` is written: the shapes of all arrays before the merge and
   the backed-up regions. Writing this attribute is the commit point of the backup;
3. the arrays are resized and rewritten chunk by chunk (``shift.py``), coordinates last;
4. the attribute is removed (the commit point of the merge), then the backup group.

On the next open (or the next merge after a failed one) ``rollback`` finds the attribute,
writes the backups back (chunk by chunk), shrinks every array to its old shape and removes the journal; a backup
group without the attribute is discarded. Rollback itself can be cut off and repeated. The
store is then the store before the merge, plus perhaps some cells the upload sets anyway, and
repeating the upload gives exactly the store of one uninterrupted merge.
"""
from __future__ import annotations

import math

import zarr

from .chunked import copy_region
from .writes import run_all

JOURNAL = "__journal__"


def region(shape: tuple[int, ...], axis: int, start: int, stop: int) -> tuple[slice, ...]:
    return tuple(slice(start, stop) if i == axis else slice(0, n) for i, n in enumerate(shape))


def backup(group: zarr.Group, arrays: dict[str, zarr.Array], regions: dict[str, tuple[int, int]]
           ) -> None:
    """Copy the regions about to be rewritten into ``__journal__`` and commit the journal.

    ``start`` should be a chunk boundary, so each copy is one chunk read and one written.
    """
    holder = group.require_group(JOURNAL)
    copies: dict[str, zarr.Array] = {}
    operations = []
    for name, (axis, start) in regions.items():
        arr = arrays[name]
        where = region(arr.shape, axis, start, arr.shape[axis])
        copies[name] = holder.create_array(name, shape=tuple(s.stop - s.start for s in where),
                                           dtype=arr.dtype, fill_value=arr.fill_value,
                                           chunks=arr.chunks, overwrite=True)
        operations.append(copy_region(arr, copies[name], where, axis, -start))
    run_all(operations)
    record = {"shapes": {n: list(a.shape) for n, a in arrays.items()},
              "regions": {n: [axis, start] for n, (axis, start) in regions.items()}}
    group.attrs[JOURNAL] = record


def finish(group: zarr.Group) -> None:
    """Commit a journalled merge: drop the record first, then the backups."""
    attrs = dict(group.attrs)
    attrs.pop(JOURNAL, None)
    group.attrs.put(attrs)
    discard_backups(group)


def discard_backups(group: zarr.Group) -> None:
    if JOURNAL in group:
        del group[JOURNAL]


def rollback(group: zarr.Group, arrays: dict[str, zarr.Array]) -> bool:
    """Undo a journalled merge cut off half-way; True if there was one to undo."""
    record = group.attrs.get(JOURNAL)
    if record is None:
        if JOURNAL in group:      # backups of a merge that never committed its journal
            discard_backups(group)
        return False
    holder = group[JOURNAL]
    operations = []
    for name, (axis, start) in record["regions"].items():
        saved = holder[name]
        where = region(saved.shape, axis, 0, saved.shape[axis])
        operations.append(copy_region(saved, arrays[name], where, axis, start))
    run_all(operations)
    for name, shape in record["shapes"].items():
        if name in arrays:
            shrink(arrays[name], tuple(shape))
    finish(group)
    return True


def shrink(arr: zarr.Array, shape: tuple[int, ...]) -> None:
    """Cut ``arr`` back to ``shape``, clearing the cut part of boundary chunks first.

    zarr keeps data past the edge of a boundary chunk and would show it again when the array
    grows, so the cut cells are set to the fill value before the resize.
    """
    current = tuple(arr.shape)
    if current == tuple(shape):
        return
    for axis, (have, want) in enumerate(zip(current, shape)):
        if have <= want:
            continue
        chunk = arr.chunks[axis]
        edge = min(have, math.ceil(want / chunk) * chunk)
        if edge > want:
            arr[region(current, axis, want, edge)] = arr.fill_value
    arr.resize(tuple(shape))
