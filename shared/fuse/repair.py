"""Removing coordinate entries an operator names, for stores an earlier version damaged.

v1 could merge a time of -9223372037 s (an epoch-ms value read as seconds), after which plain
xarray cannot open the store. ``remove_entries`` deletes such an entry from the coordinate and
from every array over its dimension. It works on the raw zarr arrays, never decoding a value,
because decoding is what fails on a damaged store.

Order of writes: the arrays over the dimension first, the coordinate last. A repair cut off
half-way still finds the entry in the coordinate; run again, it skips the arrays already
shortened and finishes, so repeating a repair is safe.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import zarr

from . import journal
from .errors import DataError, StoreError
from .schema import Schema, load_schema, normalize_path
from .store import open_zarr_store, resolve_location, store_errors


@dataclass
class Removal:
    """What a repair removes: entries of one coordinate, and the arrays that shrink with it."""
    node_path: str
    coord: str
    length: int                                   # entries of the coordinate before
    indices: list[int]
    values: list
    arrays: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        where = f"node {self.node_path or '/'!r}, coordinate {self.coord!r}"
        out = [f"{where}: remove {len(self.indices)} of {self.length} entries"]
        out += [f"  index {i}: stored value {v!r}" for i, v in zip(self.indices, self.values)]
        out += [f"  array {name}: shape {before} -> {after}"
                for name, (before, after) in self.arrays.items()]
        return out


def plan_removal(group: zarr.Group, coord: str, *, value: str | None = None,
                 index: int | None = None) -> Removal:
    """Find the entries to remove: by their stored (raw, undecoded) value, or by index."""
    if (value is None) == (index is None):
        raise ValueError("name the entry by exactly one of value or index")
    if coord not in group or not isinstance(group[coord], zarr.Array):
        raise DataError(f"coordinate {coord!r} is not an array of this node (arrays: "
                        f"{', '.join(sorted(n for n, _ in group.arrays()))})")
    stored = group[coord][...]
    if index is not None:
        position = index + len(stored) if index < 0 else index
        if not 0 <= position < len(stored):
            raise DataError(f"index {index} is outside coordinate {coord!r} "
                            f"({len(stored)} entries)")
        indices = [position]
    else:
        indices = np.flatnonzero(_matches(stored, value)).tolist()
        if not indices:
            raise DataError(f"coordinate {coord!r} has no entry {value!r} (stored values are "
                            f"raw: int64 ticks for times; first {min(5, len(stored))}: "
                            f"{stored[:5].tolist()}, last: {stored[-3:].tolist()})")
    removal = Removal(group.path, coord, len(stored), indices, stored[indices].tolist())
    for name, array in sorted(group.arrays()):
        dims = tuple(array.metadata.dimension_names or ())
        if coord not in dims:
            continue
        axis = dims.index(coord)
        after = list(array.shape)
        if array.shape[axis] == len(stored):      # not yet shortened by a cut-off repair
            after[axis] -= len(indices)
        removal.arrays[name] = (tuple(array.shape), tuple(after))
    return removal


def _matches(stored: np.ndarray, value: str) -> np.ndarray:
    text = str(value).strip()
    kind = stored.dtype.kind
    try:
        if kind in "iu":
            return stored == int(text)
        if kind == "f":
            number = float(text)
            return np.isnan(stored) if math.isnan(number) else stored == number
    except ValueError:
        raise DataError(f"{value!r} is not a value of the coordinate's type {stored.dtype} "
                        f"(give the raw stored value, or use the index)") from None
    return np.array([str(v) == text for v in stored.tolist()], dtype=bool)


def apply_removal(group: zarr.Group, removal: Removal) -> None:
    """Rewrite every array over the dimension without the entries; the coordinate last."""
    names = [n for n in removal.arrays if n != removal.coord] + [removal.coord]
    for name in names:
        before, after = removal.arrays[name]
        if before == after:
            continue
        array = group[name]
        axis = list(array.metadata.dimension_names).index(removal.coord)
        data = np.delete(array[...], removal.indices, axis=axis)
        array.resize(after)
        if data.size:
            array[...] = data


def remove_entries(schema: Schema | str | os.PathLike | Mapping, node_path: str, coord: str, *,
                   value: str | None = None, index: int | None = None, dry_run: bool = False,
                   environ: Mapping[str, str] | None = None) -> Removal:
    """Open the store of ``schema`` (local or S3, as the worker does) and remove the entry."""
    schema = load_schema(schema)
    environ = os.environ if environ is None else environ
    location = resolve_location(schema.attrs, environ, schema.source)
    store = open_zarr_store(location, environ)
    path = normalize_path(node_path)
    with store_errors(location):
        try:
            group = zarr.open_group(store, path=path, mode="r" if dry_run else "r+")
        except FileNotFoundError:
            raise StoreError(f"{location.describe()}: no node {path or '/'!r} in the store") from None
        if journal.JOURNAL in group.attrs:
            raise DataError(f"node {path or '/'!r} has a cut-off merge (its journal); open it "
                            f"with the worker first so the merge is finished or undone")
        removal = plan_removal(group, coord, value=value, index=index)
        if not dry_run:
            apply_removal(group, removal)
    return removal
