"""The on-disk layout of a node (SCHEMA.md section 3 and appendix): arrays, attributes, checks.

One zarr v3 group per node; one array per coordinate and variable with ``dimension_names``; the
group attributes are the node's ATTRS plus ``VERSION`` and ``__structure__`` (the node's schema as
YAML), and ``__empty__: true`` until the first write.
"""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import yaml
import zarr
from zarr.core.sync import sync

from . import units
from .errors import SchemaError
from .schema import CoordSchema, NodeSchema, VarSchema

INT_FILL = np.iinfo(np.int64).min
FORMAT_VERSION = "1"


def storage_dtype(var: VarSchema) -> Any:
    """The zarr dtype of a variable's array."""
    if var.is_time or var.dtype.startswith("datetime64"):
        return np.dtype("int64")
    if var.dtype.startswith("str"):
        # str[n] too: zarr's fixed-length UTF-32 has no v3 specification yet; the length
        # limit is enforced when uploads are converted
        return str
    return np.dtype(var.dtype)


def fill_value(var: VarSchema) -> Any:
    """The stored value of a cell nobody wrote (the variable's ``na_value``)."""
    dtype = storage_dtype(var)
    if dtype is str or (isinstance(dtype, np.dtype) and dtype.kind == "U"):
        return ""
    if var.is_time or var.dtype.startswith("datetime64"):
        return INT_FILL
    if dtype.kind in "fc":
        return np.nan if var.na_value in (None, "nan") else dtype.type(var.na_value)
    if dtype.kind == "b":
        return False
    if isinstance(var, CoordSchema):
        # a coordinate value is never missing, so the fill must be a value no upload uses:
        # it marks the unwritten tail of an interrupted coordinate write (journal.py)
        return np.iinfo(dtype).max if dtype.kind == "u" else np.iinfo(dtype).min
    if var.na_value == "max_int":
        return np.iinfo(dtype).max
    if var.na_value == "min_int":
        return np.iinfo(dtype).min
    return dtype.type(var.na_value if var.na_value is not None else 0)


def is_fill(values: np.ndarray, var: VarSchema) -> np.ndarray:
    """Where a coordinate array holds its fill value (a coordinate value is never missing)."""
    fill = fill_value(var)
    if values.dtype.kind == "b":
        return np.zeros(len(values), dtype=bool)
    if isinstance(fill, float) and np.isnan(fill):
        return np.isnan(values.astype(float))
    return values == fill


def array_attrs(var: VarSchema) -> dict:
    entry = var.entry()
    attrs = {k: v for k, v in entry.items() if k not in ("name", "coords", "na_value")}
    if var.na_value is not None:
        attrs["na_value"] = var.na_value
    if var.is_time or var.dtype.startswith("datetime64"):
        tick = var.unit.tick if var.is_time else var.dtype[11:-1]
        attrs.update(units.cf_time_attrs(units.DateTimeUnit(tick=tick)))
        if not isinstance(var, CoordSchema):
            attrs["_FillValue"] = int(INT_FILL)   # decoded by xarray to NaT
    elif isinstance(var.unit, str):
        attrs["units"] = units.long_name(var.unit)
    return attrs


def group_attrs(schema: NodeSchema) -> dict:
    attrs = dict(schema.attrs)
    attrs.setdefault("VERSION", FORMAT_VERSION)
    attrs["__structure__"] = yaml.safe_dump(schema.structure(), sort_keys=False,
                                            allow_unicode=True)
    return attrs


def chunks(schema: NodeSchema, var: VarSchema) -> tuple[int, ...]:
    return schema.chunk_shape(var)


def create_arrays(group: zarr.Group, schema: NodeSchema,
                  wanted: list[tuple[VarSchema, tuple[int, ...]]]) -> dict[str, zarr.Array]:
    """Create the arrays of new variables concurrently (one round trip on S3, not one each)."""
    async def create(var: VarSchema, shape: tuple[int, ...]):
        return await group._async_group.create_array(
            var.name, shape=shape, dtype=storage_dtype(var), chunks=chunks(schema, var),
            fill_value=fill_value(var), dimension_names=list(var.coords),
            attributes=array_attrs(var))

    async def create_all() -> list:
        return await asyncio.gather(*(create(var, shape) for var, shape in wanted))

    if not wanted:
        return {}
    created = sync(create_all())
    return {var.name: zarr.Array(arr) for (var, _), arr in zip(wanted, created)}


def check_compatible(source: str, schema: NodeSchema, stored_structure: str | None,
                     arrays: dict[str, zarr.Array]) -> None:
    """Refuse a schema that changes coords, type or unit of something already stored."""
    stored: dict = {}
    if stored_structure:
        try:
            tree = yaml.safe_load(stored_structure) or {}
            stored = {**(tree.get("COORDS") or {}), **(tree.get("VARS") or {})}
        except yaml.YAMLError:
            stored = {}
    entries = {**schema.coords, **schema.vars}
    where = f"{source}: node {schema.path or '/'!r}"
    for name, var in entries.items():
        kind = "COORDS" if name in schema.coords else "VARS"
        arr = arrays.get(name)
        if arr is not None:
            dims = tuple(arr.metadata.dimension_names or ())
            if dims != var.coords:
                raise SchemaError(f"{where}: {kind}/{name}/coords: the store has {list(dims)}, "
                                  f"the schema says {list(var.coords)}; changing an existing "
                                  f"variable is refused")
            want = storage_dtype(var)
            have = arr.dtype
            same = (want is str and getattr(have, "kind", "") in "TO") or \
                   (want is not str and np.dtype(have) == want)
            if not same:
                raise SchemaError(f"{where}: {kind}/{name}/type: the store has {have}, the schema "
                                  f"says {var.dtype}; changing an existing variable is refused")
        old = stored.get(name)
        if old is not None and arr is not None:
            new_unit = var.entry()["unit"]
            if old.get("unit") != new_unit:
                raise SchemaError(f"{where}: {kind}/{name}/unit: the store has {old.get('unit')!r}, "
                                  f"the schema says {new_unit!r}; changing an existing variable "
                                  f"is refused")
