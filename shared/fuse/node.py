"""An open node of a store: prepare uploads, merge them (the keyed upsert), read back.

The node keeps its coordinate values in memory between merges (a long-running worker must not
re-read the store for every upload) and writes, for each merge, only what changes: variables
first, coordinates last, with the journal of ``journal.py`` when stored data has to move. After
a failed write the node re-reads the store (and repairs it) before the next merge.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import weakref
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from zarr.core.sync import sync

from . import journal, layout, shift, writes
from .convert import PreparedTable, prepare_table
from .entries import ComposedEntries
from .errors import DataError, SchemaError
from .frames import as_pandas, dataset_table
from .plan import CellOrder, Cells, CoordCache, DimPlan, cell_order, plan_cells, plan_dim
from .schema import Schema, load_schema, normalize_path
from .store import Location, open_zarr_store, resolve_location, store_errors


@dataclass
class MergeSummary:
    """What a merge did: rows merged, new coordinate values per dimension, cells written."""
    rows: int = 0
    new_values: dict[str, int] = field(default_factory=dict)
    cells: int = 0

    def as_dict(self) -> dict:
        return {"rows": self.rows, "new_values": dict(self.new_values), "cells": self.cells}

    def __str__(self) -> str:
        new = " ".join(f"new_{d}={n}" for d, n in self.new_values.items())
        return f"rows={self.rows} cells={self.cells} {new}".strip()


def open_store(schema: Schema | str | os.PathLike | Mapping,
               environ: Mapping[str, str] | None = None) -> "Node":
    """Open (creating if needed) the store of ``schema`` and return its root node."""
    schema = load_schema(schema)
    environ = os.environ if environ is None else environ
    location = resolve_location(schema.attrs, environ, schema.source)
    store = open_zarr_store(location, environ)
    return _Store(schema, location, store).node("")


class _Store:
    """What all nodes of one open store share."""

    def __init__(self, schema: Schema, location: Location, store) -> None:
        self.schema, self.location, self.zarr_store = schema, location, store
        self.nodes: dict[str, Node] = {}
        # s3fs cannot close an asynchronous session by itself: close it when the store goes
        # away or at exit (while zarr's event loop still runs)
        self._close = weakref.finalize(self, _close_connections, store)

    def close(self) -> None:
        self._close()

    def node(self, path: str) -> "Node":
        if path not in self.nodes:
            self.nodes[path] = Node(self, path)
        return self.nodes[path]


def _close_connections(store) -> None:
    fs = getattr(store, "fs", None)
    client = getattr(fs, "_s3", None)
    if client is None:
        return
    fs._s3 = None
    with contextlib.suppress(Exception):
        from zarr.core.sync import _get_loop
        loop = _get_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:          # collected inside zarr's own loop: just schedule it
            loop.create_task(client.close())
        else:
            sync(client.close(), timeout=5)


class Node:
    """One node of an open store (a zarr group); get children with ``node["a/b"]``."""

    def __init__(self, store: _Store, path: str) -> None:
        self._store = store
        self.path = path
        self.schema = store.schema.node_schema(path)
        self._suspect = self._retyped = False
        with store_errors(store.location):
            self._open()

    def __repr__(self) -> str:
        return f"<Node {self.path or '/'!r} of {self._store.location.describe()}>"

    def close(self) -> None:
        """Release the store's connections (all nodes of this store); optional."""
        self._store.close()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getitem__(self, path: str) -> "Node":
        node = self
        for part in normalize_path(path).split("/") if normalize_path(path) else []:
            if part not in node.schema.children:
                raise SchemaError(f"{self._store.schema.source}: node {node.path or '/'!r} has "
                                  f"no child {part!r} (children: {list(node.schema.children)})")
            node = self._store.node(f"{node.path}/{part}" if node.path else part)
        return node

    # ---- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        group = zarr.open_group(store=self._store.zarr_store, path=self.path, mode="a",
                                zarr_format=3)
        self._group = group
        self._arrays: dict[str, zarr.Array] = dict(group.arrays())
        journal.rollback(group, self._arrays)
        attrs = dict(group.attrs)
        declared = self._store.schema.node_schema(self.path)
        layout.check_compatible(self._store.schema.source, declared,
                                attrs.get("__structure__"), self._arrays)
        self.schema = layout.adopt_stored_types(declared, self._arrays)
        wanted = layout.group_attrs(self.schema)
        self._empty = "__structure__" not in attrs or bool(attrs.get("__empty__"))
        if self._empty:
            wanted["__empty__"] = True
        if any(attrs.get(k) != v for k, v in wanted.items()):
            group.attrs.put({**attrs, **wanted})     # one metadata write, not one per key
        self._arrays.update(layout.create_arrays(group, self.schema, [
            (coord, (0,)) for name, coord in self.schema.coords.items() if name not in self._arrays]))
        lengths = {name: self._read_coordinate(name) for name in self.schema.coords}
        self._arrays.update(layout.create_arrays(group, self.schema, [
            (var, tuple(lengths[d] for d in var.coords))
            for name, var in self.schema.vars.items() if name not in self._arrays]))
        for name in self._arrays:
            dims = self._dims_of(name)
            if dims is not None and name not in self.schema.coords:
                shape = tuple(lengths[d] for d in dims)
                arr = self._arrays[name]
                journal.shrink(arr, tuple(min(a, b) for a, b in zip(arr.shape, shape)))
                if arr.shape != shape:
                    arr.resize(shape)
        self._entries = {name: ComposedEntries.read(self._coords[name].values,
                                                    [self._arrays[c][...] for c in coord.composed])
                         for name, coord in self.schema.coords.items() if coord.composed}
        self._suspect = False

    def _settle_data_types(self, table: PreparedTable) -> None:
        """A variable without type and unit takes the type of its first data (integers stay
        int64, as in zarr-fuse): its still empty float64 array is made again as int64."""
        retyped = []
        for name, var in {**self.schema.coords, **self.schema.vars}.items():
            values = table.keys.get(name) if name in self.schema.coords else \
                getattr(table.columns.get(name), "values", None)
            arr = self._arrays.get(name)
            if values is None or arr is None or arr.size or values.dtype.kind not in "iu" or \
                    not layout.data_decides_type(var) or np.dtype(arr.dtype) != var.dtype:
                continue
            retyped.append((dataclasses.replace(var, dtype="int64"), tuple(arr.shape)))
        if not retyped:
            return
        self._retyped = True
        self._arrays.update(layout.create_arrays(self._group, self.schema, retyped,
                                                 overwrite=True))
        new = {var.name: var for var, _ in retyped}
        self.schema = dataclasses.replace(
            self.schema, coords={n: new.get(n, c) for n, c in self.schema.coords.items()},
            vars={n: new.get(n, v) for n, v in self.schema.vars.items()})
        for name in new:
            if name in self.schema.coords:
                self._coords_cache_set(name, self._arrays[name][...])

    def _with_stored_keys(self, table: PreparedTable) -> PreparedTable:
        """``table`` with each composed key replaced by the stored key of its entry (entries.py)."""
        if not self._entries:
            return table
        keys = dict(table.keys)
        for name, entries in self._entries.items():
            components = [table.columns[c].values for c in self.schema.coords[name].composed]
            keys[name] = entries.resolve(table.keys[name], components)
        return dataclasses.replace(table, keys=keys)

    def _read_coordinate(self, name: str) -> int:
        """Cache a coordinate's stored values; every one of them is a value (writes.py)."""
        values = self._arrays[name][...]
        if values.dtype.kind in "TU":
            values = values.astype(object)
        self._coords_cache_set(name, values)
        return len(values)

    def _coords_cache_set(self, name: str, values: np.ndarray) -> None:
        if not hasattr(self, "_coords"):
            self._coords: dict[str, CoordCache] = {}
        self._coords[name] = CoordCache.build(values, self.schema.coords[name].sorted)

    def _dims_of(self, name: str) -> tuple[str, ...] | None:
        var = self.schema.vars.get(name) or self.schema.coords.get(name)
        if var is not None:
            return var.coords
        dims = tuple(self._arrays[name].metadata.dimension_names or ())
        return dims if dims and all(d in self.schema.coords for d in dims) else None

    # ---- merging ---------------------------------------------------------------------------
    def prepare(self, table: pd.DataFrame) -> PreparedTable:
        """Convert and validate an upload for this node; nothing is written. Raises DataError."""
        prepared = prepare_table(self.schema, table)
        found = self._with_stored_keys(prepared)
        for name, coord in self.schema.coords.items():
            if coord.step_limits == "no_new" and len(self._coords[name].values):
                self._check_no_new(plan_dim(name, self._coords[name], found.keys[name]),
                                   found, table.reset_index(drop=True))
        return prepared

    def _check_no_new(self, dim: DimPlan, prepared: PreparedTable,
                      table: pd.DataFrame | None = None) -> None:
        if len(dim.new_values) == 0:
            return
        at = int(np.argmax(dim.new_rows()))
        coord = self.schema.coords[dim.name]
        column = ", ".join(self.schema.vars[c].df_col for c in coord.composed) or coord.df_col
        if table is not None:
            cols = [self.schema.vars[c].df_col for c in coord.composed] or [coord.df_col]
            value = tuple(table[c].iloc[at] for c in cols) if coord.composed else table[cols[0]].iloc[at]
        elif coord.composed:
            value = tuple(prepared.columns[c].values[at] for c in coord.composed)
        else:
            value = prepared.keys[dim.name][at]
        row = int(prepared.rows()[at])
        raise DataError(f"row {row}, column {column}: {value!r} is a new value of coordinate "
                        f"{dim.name!r}, which takes no new values (step_limits: no_new)",
                        row=row, column=column, value=value)

    def update(self, table: pd.DataFrame) -> MergeSummary:
        """Prepare and merge one upload: a pandas or a polars DataFrame."""
        return self.merge([self.prepare(as_pandas(table))])

    def merge_ds(self, dataset: xr.Dataset) -> MergeSummary:
        """Merge an xarray.Dataset whose dims and variables follow the node's schema (`df_col`)."""
        return self.update(dataset_table(dataset, self.schema))

    def merge(self, tables: Iterable[PreparedTable]) -> MergeSummary:
        """Merge prepared tables in order, with the same result as merging them one by one."""
        tables = list(tables)
        for t in tables:
            if t.node_path != self.path:
                raise ValueError(f"table prepared for node {t.node_path!r}, merged into {self.path!r}")
        if not tables:
            return MergeSummary()
        table = PreparedTable.concat(tables)
        with store_errors(self._store.location):
            if self._suspect:
                self._open()
            return self._merge(table)

    def _merge(self, table: PreparedTable) -> MergeSummary:
        self._settle_data_types(table)
        table = self._with_stored_keys(table)
        dims = {d: plan_dim(d, self._coords[d], table.keys[d]) for d in self.schema.dims}
        for name, coord in self.schema.coords.items():
            if coord.step_limits == "no_new" and dims[name].old_len:
                self._check_no_new(dims[name], table)
        cells = self._plan_cells(table, dims)
        arrays = {n: self._dims_of(n) for n in self._arrays}
        arrays = {n: d for n, d in arrays.items() if d is not None}
        rewrite = {}
        for name, ad in arrays.items():
            shifted = [i for i, d in enumerate(ad) if dims[d].shifted]
            if len(shifted) == 1:
                axis, chunk = shifted[0], self._arrays[name].chunks[shifted[0]]
                first = dims[ad[axis]].first_change
                rewrite[name] = (axis, first - first % chunk)     # whole chunks: see shift.py
            elif shifted:
                rewrite[name] = (0, 0)
        self._suspect = True          # until the write completes, the cache may not match
        if rewrite:
            journal.backup(self._group, self._arrays, rewrite)
        variable_writes = []
        for name, ad in arrays.items():
            if name in self.schema.coords:
                continue
            arr = self._arrays[name]
            shape = tuple(dims[d].new_len for d in ad)
            if name in rewrite:
                axis, start = rewrite[name]
                moved = [dims[d].old_to_new if dims[d].old_to_new is not None
                         else np.arange(dims[d].old_len) for d in ad]
                variable_writes.append(shift.rewrite(arr, shape, axis, start, moved,
                                                     cells.get(name)))
            else:
                variable_writes.append(writes.grow_and_write(arr, shape, cells.get(name)))
        writes.run_all(variable_writes)       # variables first: coordinates are the commit point
        coordinate_writes = []
        for name, dim in dims.items():
            if len(dim.new_values):
                box = (slice(dim.first_change, dim.new_len),)
                coordinate_writes.append(writes.write_then_grow(
                    self._arrays[name], (dim.new_len,), [(box, dim.merged[dim.first_change:])]))
        writes.run_all(coordinate_writes)
        if rewrite:
            journal.finish(self._group)
        if self._empty or self._retyped:
            attrs = dict(self._group.attrs)
            attrs.pop("__empty__", None)
            attrs.update(layout.group_attrs(self.schema))     # types the first data decided
            self._group.attrs.put(attrs)
            self._empty = self._retyped = False
        for name, dim in dims.items():
            if len(dim.new_values):
                self._update_cache(name, dim)
        for entries in self._entries.values():
            entries.commit()
        self._suspect = False
        return MergeSummary(rows=table.n_rows,
                            new_values={d: len(p.new_values) for d, p in dims.items()},
                            cells=sum(len(c) for c in cells.values()))

    def _plan_cells(self, table: PreparedTable, dims: dict[str, DimPlan]) -> dict[str, Cells]:
        components = self.schema.components()
        out = {}
        shared: dict[tuple[str, ...], CellOrder] = {}   # columns without gaps share their order
        for name, var in self.schema.vars.items():
            column = table.columns.get(name)
            if column is None:
                continue
            valid = column.valid
            if name in components:      # a key's components never change: write new keys only
                valid = valid & dims[var.coords[0]].new_rows()
            var_dims = [dims[d] for d in var.coords]
            order = None
            if valid.all():
                if var.coords not in shared:
                    shared[var.coords] = cell_order(var_dims, valid)
                order = shared[var.coords]
            cells = plan_cells(var_dims, column.values, valid, order)
            if len(cells):
                out[name] = cells
        return out

    def _update_cache(self, name: str, dim: DimPlan) -> None:
        cache = self._coords[name]
        if cache.lookup is not None and dim.old_to_new is None:
            for i, value in enumerate(dim.new_values.tolist()):
                cache.lookup[value] = dim.old_len + i
            cache.values = dim.merged
        else:
            self._coords_cache_set(name, dim.merged)

    # ---- reading ---------------------------------------------------------------------------
    @property
    def dataset(self) -> xr.Dataset:
        """The node as an xarray Dataset (lazy), read as plain xarray would read it."""
        with store_errors(self._store.location):
            return xr.open_zarr(self._store.zarr_store, group=self.path or None,
                                consolidated=False, chunks=None)

    def read_df(self) -> pd.DataFrame:
        """One row per cell, with composed components as columns and decoded times."""
        ds = self.dataset.load()
        if not ds.sizes or any(n == 0 for n in ds.sizes.values()):
            cols = list(self.schema.coords) + [v for v in self.schema.vars]
            return pd.DataFrame(columns=cols)
        return ds.to_dataframe().reset_index()


