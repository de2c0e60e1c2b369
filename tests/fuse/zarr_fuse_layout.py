"""A writer and reader of "zarr-fuse layout" stores, built from the appendix of SCHEMA.md with
plain zarr 3 and numpy only (never with the engine under test), to check both directions:
stores zarr-fuse writes open and extend here, stores written here open and extend as zarr-fuse
would extend them.

What zarr-fuse does and this module imitates:
* a node is a group with its ATTRS, ``VERSION`` and ``__structure__`` (YAML: ATTRS, COORDS,
  VARS, each entry with the appendix's keys); ``__empty__: true`` until the first write;
* one array per coordinate and variable, ``dimension_names``, the entry repeated as attributes;
* ``str[n]`` arrays fixed-width ``<Un``; untyped integer data int64; times int64 with CF
  ``units`` / ``calendar``; floats filled with NaN;
* a composed coordinate holds int64 keys, ``hash()`` of the component tuple, and finds an entry
  by computing that key again (which is why keys must be ``hash()`` for numbers).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml
import zarr

VERSION = "0.2.0"
TIME_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def entry(name: str, coords: list[str], *, unit: Any = None, type_: str | None = None,
          df_col: str | None = None, source_unit: Any = None, range_: dict | None = None,
          description: str | None = None, na_value: Any = None) -> dict:
    """A VARS entry of ``__structure__`` as zarr-fuse writes it."""
    out: dict[str, Any] = {"name": name, "coords": list(coords), "unit": unit, "type": type_}
    if na_value is not None:
        out["na_value"] = na_value
    if description is not None:
        out["description"] = description
    out.update(df_col=df_col or name, source_unit=source_unit if source_unit is not None else unit,
               range=range_)
    return out


def coord_entry(name: str, *, composed: list[str] | None = None, chunk_size: int = 64,
                sorted_: bool = True, step_limits: Any = "any_new", **keys) -> dict:
    """A COORDS entry: a variable entry plus ``composed`` ([own name] when simple) etc."""
    out = entry(name, [name], **keys)
    out.update(composed=list(composed or [name]), chunk_size=chunk_size,
               step_limits=step_limits, sorted=sorted_)
    return out


def composed_key(values: tuple) -> int:
    """The key zarr-fuse gives an entry: Python's hash of the tuple of component values."""
    return hash(tuple(float(v) if isinstance(v, (float, np.floating)) else v for v in values))


def array_dtype(spec: dict, values: np.ndarray) -> np.dtype:
    type_ = spec.get("type")
    if isinstance(spec.get("unit"), dict):
        return np.dtype("int64")
    if isinstance(type_, str) and type_.startswith("str["):
        return np.dtype(f"<U{type_[4:-1]}")
    if type_ == "str":
        return values.dtype
    if type_ is None and spec.get("unit") is None:
        return values.dtype if values.dtype.kind in "iu" else np.dtype("float64")
    return np.dtype(type_ or "float64")


def fill_for(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return np.nan
    if dtype.kind == "U":
        return ""
    return 0


def create_node(root: Path, path: str, attrs: dict, coords: dict[str, dict],
                variables: dict[str, dict]) -> zarr.Group:
    """An empty node: group attributes only (``__empty__: true``), as before the first write."""
    group = zarr.open_group(str(root), path=path or None, mode="a", zarr_format=3)
    structure = {"ATTRS": dict(attrs), "COORDS": coords, "VARS": variables}
    group.attrs.put({**attrs, "VERSION": VERSION,
                     "__structure__": yaml.safe_dump(structure, sort_keys=False),
                     "__empty__": True})
    return group


def structure_of(group: zarr.Group) -> dict:
    return yaml.safe_load(group.attrs["__structure__"])


def write_node(group: zarr.Group, values: dict[str, np.ndarray]) -> None:
    """The first write of a node: one array per coordinate and variable, from ``values``
    (times as int64 ticks, composed coordinates as their keys)."""
    structure = structure_of(group)
    specs = {**structure["COORDS"], **structure["VARS"]}
    for name, data in values.items():
        spec = specs[name]
        data = np.asarray(data)
        dtype = array_dtype(spec, data)
        attrs = {k: spec[k] for k in ("unit", "type", "range", "description", "df_col",
                                      "source_unit", "composed", "chunk_size", "step_limits",
                                      "sorted") if k in spec}
        if isinstance(spec.get("unit"), dict):
            attrs.update(units=f"{TIME_UNITS[spec['unit']['tick']]} since 1970-01-01 00:00:00",
                         calendar="proleptic_gregorian")
        elif spec.get("unit") is not None:
            attrs["units"] = spec["unit"]
        chunks = tuple(max(1, min(64, n)) for n in data.shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # <Un has no zarr v3 specification yet
            arr = group.create_array(name, shape=data.shape, dtype=dtype, chunks=chunks,
                                     fill_value=fill_for(dtype), dimension_names=spec["coords"],
                                     attributes=attrs, overwrite=True)
        arr[...] = data.astype(dtype)
    attrs = dict(group.attrs)
    attrs.pop("__empty__", None)
    group.attrs.put(attrs)


def find_entry(group: zarr.Group, coord: str, values: tuple) -> int | None:
    """Where zarr-fuse finds an entry of a composed coordinate: by its ``hash()`` key."""
    keys = group[coord][...]
    hits = np.flatnonzero(keys == composed_key(values))
    return int(hits[0]) if len(hits) else None


def upsert_station(group: zarr.Group, coord: str, components: dict[str, float],
                   cells: dict[str, tuple[int, float]]) -> int:
    """What zarr-fuse does to merge one row naming an entry of a composed coordinate: find the
    entry by its key, append it (key and components) if absent, then set one cell per variable
    (``cells``: variable -> (index along the first dimension, value)). Returns the position."""
    structure = structure_of(group)
    order = structure["COORDS"][coord]["composed"]
    values = tuple(components[c] for c in order)
    at = find_entry(group, coord, values)
    if at is None:
        at = group[coord].shape[0]
        for name, arr in group.arrays():
            dims = arr.metadata.dimension_names or ()
            if coord in dims:
                axis = list(dims).index(coord)
                shape = list(arr.shape)
                shape[axis] += 1
                arr.resize(tuple(shape))
        group[coord][at] = composed_key(values)
        for c in order:
            group[c][at] = components[c]
    for name, (row, value) in cells.items():
        group[name][row, at] = value
    return at
