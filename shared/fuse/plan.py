"""Merge planning on numpy arrays (pure): where new coordinate values go, and which cells change.

Given the stored coordinate values of a node and a prepared upload, ``plan_dim`` decides for one
coordinate the merged coordinate (sorted: each new value at its sorted place; unsorted: new values
after the old ones, in order of first appearance), the position of every row in it, and whether
old values move (an insertion before the end, which makes the store layer rewrite the shifted
part under a journal). ``plan_cells`` turns one variable's column into the cells to write, one per
cell with the last non-missing row winning.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class CoordCache:
    """The stored values of one coordinate, kept by an open node between merges."""
    values: np.ndarray
    sorted: bool
    lookup: dict | None = None     # value -> position, for unsorted coordinates

    @classmethod
    def build(cls, values: np.ndarray, sorted_: bool) -> "CoordCache":
        lookup = None if sorted_ else {v: i for i, v in enumerate(values.tolist())}
        return cls(values, sorted_, lookup)


@dataclass
class DimPlan:
    name: str
    old_len: int
    merged: np.ndarray            # the coordinate after the merge
    row_index: np.ndarray         # position of every row's key in ``merged``
    new_values: np.ndarray        # keys not stored before (sorted, or in first-seen order)
    first_change: int             # first position whose value differs from before
    old_to_new: np.ndarray | None = None   # new position of each old value, when values move

    @property
    def new_len(self) -> int:
        return len(self.merged)

    @property
    def shifted(self) -> bool:
        return self.first_change < self.old_len

    def new_rows(self) -> np.ndarray:
        """Rows whose key is a new value of this coordinate."""
        if len(self.new_values) == 0:
            return np.zeros(len(self.row_index), dtype=bool)
        if self.old_to_new is None:
            return self.row_index >= self.old_len
        is_new = np.ones(self.new_len, dtype=bool)
        is_new[self.old_to_new] = False
        return is_new[self.row_index]


def plan_dim(name: str, cache: CoordCache, keys: np.ndarray) -> DimPlan:
    """Where ``keys`` land in the coordinate ``cache`` (see the module docstring)."""
    old = cache.values
    n = len(old)
    if cache.sorted:
        return _plan_sorted(name, old, keys)
    lookup = cache.lookup if cache.lookup is not None else CoordCache.build(old, False).lookup
    codes, first_seen = pd.factorize(keys)       # one hash pass; uniques in order of appearance
    first_seen = list(first_seen)
    new = [k for k in first_seen if k not in lookup]
    new_values = np.array(new, dtype=old.dtype if n else keys.dtype)
    merged = np.concatenate([old, new_values]) if new else old
    local = {k: n + i for i, k in enumerate(new)}
    positions = np.array([lookup[k] if k in lookup else local[k] for k in first_seen],
                         dtype=np.int64)
    row_index = positions[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    return DimPlan(name, n, merged, row_index, new_values, n)


def _plan_sorted(name: str, old: np.ndarray, keys: np.ndarray) -> DimPlan:
    n = len(old)
    codes, first_seen = pd.factorize(keys)     # hashing, not sorting: keys repeat a lot
    first_seen = np.asarray(first_seen, dtype=keys.dtype if keys.dtype != object else object)
    order = np.argsort(first_seen, kind="stable")
    unique = first_seen[order]
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = rank[codes]
    if n:
        pos = np.searchsorted(old, unique)
        found = np.zeros(len(unique), dtype=bool)
        inside = pos < n
        found[inside] = old[pos[inside]] == unique[inside]
        new_values = unique[~found]
    else:
        new_values = unique
    if len(new_values) == 0:
        return DimPlan(name, n, old, np.searchsorted(old, unique).astype(np.int64)[codes],
                       new_values, n)
    insert_at = np.searchsorted(old, new_values)
    if insert_at[0] >= n:
        merged = np.concatenate([old, new_values.astype(old.dtype) if n else new_values])
        old_to_new = None
    else:
        merged = np.insert(old, insert_at, new_values)
        old_to_new = np.arange(n) + np.searchsorted(new_values, old)
    row_index = np.searchsorted(merged, unique).astype(np.int64)[codes]
    return DimPlan(name, n, merged, row_index, new_values, int(insert_at[0]), old_to_new)


@dataclass
class Cells:
    """Cells of one variable to write: positions per dimension (in merged coordinates), values.

    Always in ascending cell order (C order of the merged shape), one entry per cell."""
    index: tuple[np.ndarray, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def bounds(self) -> tuple[tuple[int, int], ...]:
        return tuple((int(i.min()), int(i.max()) + 1) for i in self.index)

    def select(self, mask: np.ndarray) -> "Cells":
        return Cells(tuple(i[mask] for i in self.index), self.values[mask])


@dataclass
class CellOrder:
    """Which rows write which cells: shared by variables with the same dims and missing cells."""
    index: tuple[np.ndarray, ...]
    rows: np.ndarray | None        # rows to take, in cell order; None: every row, as they are


def cell_order(dims: list[DimPlan], valid: np.ndarray) -> CellOrder:
    """One write per cell; among rows naming the same cell the last one with a value wins."""
    rows = np.flatnonzero(valid) if not valid.all() else None
    index = [d.row_index if rows is None else d.row_index[rows] for d in dims]
    if len(index[0]) < 2:
        return CellOrder(tuple(index), rows)
    flat = np.ravel_multi_index(index, tuple(d.new_len for d in dims))
    if bool(np.all(flat[1:] > flat[:-1])):          # common: already one row per cell, in order
        return CellOrder(tuple(index), rows)
    _, first_in_reverse = np.unique(flat[::-1], return_index=True)
    keep = len(flat) - 1 - first_in_reverse          # ascending cell order, last row wins
    taken = keep if rows is None else rows[keep]
    return CellOrder(tuple(i[keep] for i in index), taken)


def plan_cells(dims: list[DimPlan], values: np.ndarray, valid: np.ndarray,
               order: CellOrder | None = None) -> Cells:
    """The cells one variable's column writes (``order`` from ``cell_order`` if already known)."""
    order = order or cell_order(dims, valid)
    return Cells(order.index, values if order.rows is None else values[order.rows])
