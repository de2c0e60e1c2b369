"""The on-disk layout of a node (SCHEMA.md section 3 and appendix): arrays, attributes, checks.

One zarr v3 group per node; one array per coordinate and variable with ``dimension_names``; the
group attributes are the node's ATTRS plus ``VERSION`` and ``__structure__`` (the node's schema as
YAML), and ``__empty__: true`` until the first write.
"""
from __future__ import annotations

import asyncio
import dataclasses
import warnings
from typing import Any, Mapping

import numpy as np
import yaml
import zarr
from zarr.core.sync import sync
from zarr.errors import UnstableSpecificationWarning

from . import units
from .convert import data_decides_type
from .errors import SchemaError
from .schema import CoordSchema, NodeSchema, VarSchema

# Fixed-width strings (str[n]) have no zarr v3 data type specification yet: zarr warns at every
# metadata write of such an array (created, resized). zarr-fuse writes them all the same, and so
# must we for its readers; the warning would only fill the worker's log.
warnings.filterwarnings("ignore", category=UnstableSpecificationWarning,
                        message=r".*FixedLengthUTF32")

INT_FILL = np.iinfo(np.int64).min
FORMAT_VERSION = "1"


def storage_dtype(var: VarSchema) -> Any:
    """The zarr dtype of a variable's array."""
    if var.is_time or var.dtype.startswith("datetime64"):
        return np.dtype("int64")
    if var.dtype.startswith("str"):
        # str[n] is fixed-width UTF-32 (numpy <Un), as zarr-fuse writes it; str is variable
        return np.dtype(f"<U{var.dtype[4:-1]}") if var.dtype != "str" else str
    return np.dtype(var.dtype)


def fill_value(var: VarSchema) -> Any:
    """The stored value of a cell nobody wrote: NaN for floats whatever their ``na_value`` (an
    input sentinel, SCHEMA.md rule 4.3), NaT for times, else ``na_value`` or the type's filler."""
    dtype = storage_dtype(var)
    if dtype is str or (isinstance(dtype, np.dtype) and dtype.kind == "U"):
        return ""
    if var.is_time or var.dtype.startswith("datetime64"):
        return INT_FILL
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind == "b":
        return False
    if isinstance(var, CoordSchema):
        # never read back as a marker: every value of the type is a coordinate value (writes.py)
        return np.iinfo(dtype).max if dtype.kind == "u" else np.iinfo(dtype).min
    if var.na_value == "max_int":
        return np.iinfo(dtype).max
    if var.na_value == "min_int":
        return np.iinfo(dtype).min
    return dtype.type(var.na_value if var.na_value is not None else 0)


def structure_entry(var: VarSchema) -> dict:
    """A schema entry as zarr-fuse readers rebuild it (SCHEMA.md appendix): a simple
    coordinate's ``composed`` is ``[its own name]``, ``source_unit`` defaults to ``unit``, and
    ``type`` is the effective type, null only where the data decides (no type, no unit)."""
    entry = var.entry()
    if entry["source_unit"] is None:
        entry["source_unit"] = entry["unit"]
    if entry["type"] is None and (isinstance(var, CoordSchema) or var.unit is not None):
        entry["type"] = var.dtype
    if isinstance(var, CoordSchema):
        entry["composed"] = list(composed_entry(var))
    return entry


def structure(schema: NodeSchema) -> dict:
    """The node's own schema as stored in the group attribute ``__structure__``."""
    return {"ATTRS": dict(schema.attrs),
            "COORDS": {n: structure_entry(c) for n, c in schema.coords.items()},
            "VARS": {n: structure_entry(v) for n, v in schema.vars.items()}}


def array_attrs(var: VarSchema) -> dict:
    entry = structure_entry(var)
    attrs = {k: v for k, v in entry.items() if k not in ("name", "coords", "na_value")}
    if var.na_value is not None:
        attrs["na_value"] = var.na_value
    if var.is_time or var.dtype.startswith("datetime64"):
        tick = var.unit.tick if var.is_time else var.dtype[11:-1]
        attrs.update(units.cf_time_attrs(units.DateTimeUnit(tick=tick)))
        # The values are UTC instants (SCHEMA.md section 2): the array's unit says so, and the
        # zone the input was read in is kept under its own name. __structure__ keeps the schema
        # as written, where tz says how input is read (zarr-fuse extends stores with it).
        if var.is_time:
            attrs["unit"] = {**attrs["unit"], "tz": "UTC"}
        attrs["source_tz"] = source_zone(var)
        if not isinstance(var, CoordSchema):
            attrs["_FillValue"] = int(INT_FILL)   # decoded by xarray to NaT
    elif isinstance(var.unit, str):
        attrs["units"] = units.long_name(var.unit)
    return attrs


def source_zone(var: VarSchema) -> str:
    """The zone input times of a date-time variable are read in (as ``convert._times`` reads them)."""
    if isinstance(var.source_unit, units.DateTimeUnit):
        return var.source_unit.tz
    return var.unit.tz if var.is_time else "UTC"


def group_attrs(schema: NodeSchema) -> dict:
    attrs = dict(schema.attrs)
    attrs.setdefault("VERSION", FORMAT_VERSION)
    attrs["__structure__"] = yaml.safe_dump(structure(schema), sort_keys=False,
                                            allow_unicode=True)
    return attrs


def chunks(schema: NodeSchema, var: VarSchema) -> tuple[int, ...]:
    return schema.chunk_shape(var)


def create_arrays(group: zarr.Group, schema: NodeSchema,
                  wanted: list[tuple[VarSchema, tuple[int, ...]]],
                  overwrite: bool = False) -> dict[str, zarr.Array]:
    """Create the arrays of new variables concurrently (one round trip on S3, not one each)."""
    async def create(var: VarSchema, shape: tuple[int, ...]):
        return await group._async_group.create_array(
            var.name, shape=shape, dtype=storage_dtype(var), chunks=chunks(schema, var),
            fill_value=fill_value(var), dimension_names=list(var.coords),
            attributes=array_attrs(var), overwrite=overwrite)

    async def create_all() -> list:
        return await asyncio.gather(*(create(var, shape) for var, shape in wanted))

    if not wanted:
        return {}
    created = sync(create_all())
    return {var.name: zarr.Array(arr) for (var, _), arr in zip(wanted, created)}


def check_compatible(source: str, schema: NodeSchema, stored_structure: str | None,
                     arrays: dict[str, zarr.Array]) -> None:
    """Refuse a schema that no longer describes the store (SCHEMA.md section 3): changed coords,
    type (a ``str[n]`` width included), unit, ``sorted`` or ``composed`` of something stored,
    or an array of the store the schema leaves out. Nothing is written before this check."""
    stored_coords, stored_vars = _stored_entries(stored_structure)
    entries = {**schema.coords, **schema.vars}
    where = f"{source}: node {schema.path or '/'!r}"

    def refuse(key: str, have: Any, want: Any) -> SchemaError:
        return SchemaError(f"{where}: {key}: the store has {have}, the schema says {want}; "
                           f"changing an existing variable is refused")

    for name, var in entries.items():
        arr = arrays.get(name)
        if arr is None:
            continue
        kind = "COORDS" if name in schema.coords else "VARS"
        dims = tuple(arr.metadata.dimension_names or ())
        if dims != var.coords:
            raise refuse(f"{kind}/{name}/coords", list(dims), list(var.coords))
        old = stored_coords.get(name) or stored_vars.get(name)
        if isinstance(var, CoordSchema):
            facts = old if old is not None else dict(arr.attrs)
            if isinstance(facts.get("sorted"), bool) and facts["sorted"] != var.sorted:
                raise refuse(f"COORDS/{name}/sorted", facts["sorted"], var.sorted)
            if "composed" in facts:
                have = simple_as_composed(name, facts.get("composed"))
                if have != list(composed_entry(var)):
                    raise refuse(f"COORDS/{name}/composed", have, list(composed_entry(var)))
        have_type = stored_type(arr, old or {})
        if not dtype_fits(var, arr.dtype, have_type):
            raise refuse(f"{kind}/{name}/type", have_type, var.dtype)
        if old is not None:
            new_unit = var.entry()["unit"]
            if "unit" in old and old.get("unit") != new_unit:
                raise refuse(f"{kind}/{name}/unit", repr(old.get("unit")), repr(new_unit))
    left_out = [name for name in arrays if name not in entries]
    # a coordinate first: leaving it out is the cause, its variables follow from it
    left_out.sort(key=lambda n: tuple(arrays[n].metadata.dimension_names or ()) != (n,))
    for name in left_out:
        arr = arrays[name]
        kind = "VARS" if name in stored_vars else "COORDS" if name in stored_coords else \
            "COORDS" if tuple(arr.metadata.dimension_names or ()) == (name,) else "VARS"
        dims = list(arr.metadata.dimension_names or ())
        raise SchemaError(f"{where}: {kind}/{name}: the store holds array {name!r} "
                          f"(coords {dims}), the schema leaves it out; removing a variable "
                          f"or coordinate from a store is refused")


def _stored_entries(stored_structure: str | None) -> tuple[dict, dict]:
    if not stored_structure:
        return {}, {}
    try:
        tree = yaml.safe_load(stored_structure) or {}
    except yaml.YAMLError:
        return {}, {}
    if not isinstance(tree, dict):
        return {}, {}
    return dict(tree.get("COORDS") or {}), dict(tree.get("VARS") or {})


def stored_type(arr: zarr.Array, entry: dict) -> str:
    """The type of a stored array as a schema type token (``str[6]``, ``float64``...)."""
    dtype = arr.dtype
    kind = getattr(dtype, "kind", "")
    if kind == "U":
        return f"str[{np.dtype(dtype).itemsize // 4}]"
    if kind in "TO":     # variable-length: a str[n] store of version 1 keeps n in __structure__
        declared = entry.get("type")
        return declared if isinstance(declared, str) and declared.startswith("str") else "str"
    return str(np.dtype(dtype))


def adopt_stored_types(schema: NodeSchema, arrays: dict[str, zarr.Array]) -> NodeSchema:
    """``schema`` with the stored dtype for every variable whose data decides its type."""
    def adopt(entries: Mapping[str, VarSchema]) -> dict[str, VarSchema]:
        out = dict(entries)
        for name, var in entries.items():
            arr = arrays.get(name)
            if arr is not None and data_decides_type(var) and np.dtype(arr.dtype) != var.dtype:
                out[name] = dataclasses.replace(var, dtype=str(np.dtype(arr.dtype)))
        return out
    return dataclasses.replace(schema, coords=adopt(schema.coords), vars=adopt(schema.vars))


def dtype_fits(var: VarSchema, dtype: Any, have_type: str) -> bool:
    if data_decides_type(var):
        return getattr(dtype, "kind", "") in "iuf"
    want = storage_dtype(var)
    if var.dtype.startswith("str"):
        return have_type == var.dtype or (have_type == "str" and getattr(dtype, "kind", "") in "TO")
    return np.dtype(dtype) == want


def simple_as_composed(name: str, composed: Any) -> list:
    """``composed`` as stored; a simple coordinate is ``[its own name]`` (or ``[]`` in v1)."""
    composed = list(composed or [])
    return composed or [name]


def composed_entry(coord: CoordSchema) -> tuple[str, ...]:
    return coord.composed or (coord.name,)
