"""Reading a schema tree into node schemas: every check of SCHEMA.md section 1, as findings.

Faults are collected, not raised at the first one: each entry (a coordinate or a variable) is
checked on its own, so a fault in one entry does not hide those of others, and a check that
depends on another entry (a variable over a coordinate, a composed component) is skipped when
that entry is itself faulty. That way the message names the real culprit (the ``15m`` tick),
never a consequence of it. Coordinates are checked before the variables that use them.

Obsolete or ignored constructs (a ``merge:`` block's ``allow_inserts: false``, a name in both
VARS and COORDS, free keys) are warnings: the schema loads and the findings travel with it.
"""
from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from . import units
from .errors import SchemaFinding
from .schema import (DEFAULT_CHUNK, DEFAULT_UNSORTED_CHUNK, CoordSchema, NodeSchema, Range,
                     VarSchema)
from .schema_keys import (BOOL_UNITS, COORD_KEYS, COORD_ONLY_KEYS, DATETIME_KEYS, MERGE_KEYS,
                          RANGE_KINDS, RESERVED, STEP_LIMIT_WORDS, TYPE_ALIASES, TYPES, VAR_KEYS,
                          closest, near_miss)
from .units import DateTimeUnit

_STR_N = re.compile(r"^str\[(\d+)\]$")
_DATETIME64 = re.compile(r"^datetime64\[(\w+)\]$")
_EMPTY = (None, "", "None", "none", "null")   # `sorted:`, `sorted: None`: the default
MAX_NODE_DEPTH = 32           # a deeper tree is a YAML alias loop or a mistake, not a deployment
MAX_ATTR_VALUES = 10_000      # bounds the walk over ATTRS (aliases can make them explode)


class _Fault(Exception):
    """One error in one entry; caught per entry so that the other entries are still checked."""

    def __init__(self, where: list[str], message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


@dataclass
class _Entry:
    """A coordinate or variable entry with, for each key, the path of the mapping that gave it
    (a name in both VARS and COORDS is one entry made of two mappings)."""
    name: str
    where: list[str]
    spec: dict = field(default_factory=dict)
    origin: dict = field(default_factory=dict)

    def at(self, key: str, *more: str) -> list[str]:
        return self.origin.get(key, self.where) + [key, *more]


class Loader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[SchemaFinding] = []
        self.warnings: list[SchemaFinding] = []

    # -- findings -------------------------------------------------------------------------
    def _finding(self, where: list[str], message: str, severity: str) -> SchemaFinding:
        return SchemaFinding(self.source, "/".join(str(w) for w in where), message, severity)

    def warn(self, where: list[str], message: str) -> None:
        self.warnings.append(self._finding(where, message, "warning"))

    def record(self, fault: _Fault) -> None:
        self.errors.append(self._finding(fault.where, fault.message, "error"))

    def fail(self, where: list[str], message: str) -> _Fault:
        return _Fault(where, message)

    def check_keys(self, spec: Mapping, where: list[str], allowed: tuple[str, ...],
                   ignored: tuple[str, ...] = (), loose: bool = False) -> None:
        """A near-miss of a known key is a typo (error); any other unknown key is free (warning)."""
        for key in spec:
            if key in allowed:
                continue
            if key in ignored:
                self.warn(where + [str(key)], "a key of coordinates only; ignored on a variable")
                continue
            typo = near_miss(key, allowed, loose)
            if typo is not None:
                raise self.fail(where + [str(key)], f"unknown key, did you mean {typo!r}?")
            self.warn(where + [str(key)], "unknown key, ignored")

    # -- nodes ----------------------------------------------------------------------------
    def node(self, tree: Any, path: str, nodes: dict[str, NodeSchema]) -> None:
        where = path.split("/") if path else []
        if len(where) > MAX_NODE_DEPTH:
            self.record(self.fail(where[:MAX_NODE_DEPTH], f"nodes nested deeper than "
                                  f"{MAX_NODE_DEPTH} levels (a YAML alias loop?)"))
            return
        if tree is None:
            tree = {}
        if not isinstance(tree, Mapping):
            self.record(self.fail(where, f"a node must be a mapping, not {type(tree).__name__}"))
            return
        children = self.children(tree, where)
        attrs = self.guarded(lambda: self.attrs(tree.get("ATTRS"), where + ["ATTRS"]), {})
        raw_vars = self.guarded(lambda: self.names_to_entries(tree.get("VARS"), where + ["VARS"]), {})
        raw_coords = self.guarded(lambda: self.names_to_entries(tree.get("COORDS"), where + ["COORDS"]), {})
        for name in list(raw_vars) + list(raw_coords):
            if name in children:
                kind = "VARS" if name in raw_vars else "COORDS"
                self.record(self.fail(where + [kind, name], f"is also the name of a child node "
                                      f"({'/'.join(where + [name])}); an array and a group "
                                      f"cannot share a name"))
        broken: set[str] = set()
        coords: dict[str, CoordSchema] = {}
        vars_: dict[str, VarSchema] = {}
        for name, spec in raw_coords.items():
            entry = _Entry(name, where + ["COORDS", name])
            try:
                self.check_keys(spec, entry.where, COORD_KEYS)
                entry.spec.update(spec)
                entry.origin.update({k: entry.where for k in spec})
                if name in raw_vars:
                    self.overlay(entry, raw_vars[name], where + ["VARS", name])
                coords[name] = self.coordinate(entry)
            except _Fault as fault:
                self.record(fault)
                broken.add(name)
        for name, spec in raw_vars.items():
            if name in raw_coords:
                continue
            try:
                self.check_keys(spec, where + ["VARS", name], VAR_KEYS, ignored=COORD_ONLY_KEYS)
                vars_[name] = self.variable(_Entry(name, where + ["VARS", name], dict(spec),
                                                   {k: where + ["VARS", name] for k in spec}))
            except _Fault as fault:
                self.record(fault)
                broken.add(name)
        self.implicit_coords(where, vars_, coords, broken)
        self.check_composed(where, vars_, coords, broken)
        nodes[path] = NodeSchema(path=path, attrs=attrs, coords=coords, vars=vars_,
                                 children=tuple(children))
        for child in children:
            self.node(tree[child], f"{path}/{child}" if path else child, nodes)

    def guarded(self, check, fallback):
        try:
            return check()
        except _Fault as fault:
            self.record(fault)
            return fallback

    def children(self, tree: Mapping, where: list[str]) -> list[str]:
        children = []
        for key, value in tree.items():
            if key in RESERVED:
                continue
            try:
                if not isinstance(key, str) or not key.strip():
                    raise self.fail(where + [str(key)], "node names must be non-empty text")
                typo = near_miss(key, RESERVED)
                if typo is not None:
                    raise self.fail(where + [key], f"unknown key, did you mean {typo!r}?")
                if value is not None and not isinstance(value, Mapping):
                    raise self.fail(where + [key], f"unknown key: not {', '.join(RESERVED)} and "
                                    f"not a child node (a mapping), but {type(value).__name__}")
                self.check_name(key, where + [key], "a node name")
                children.append(key)
            except _Fault as fault:
                self.record(fault)
        return children

    def check_name(self, name: str, where: list[str], what: str) -> None:
        # Names become zarr keys: a '/' would nest arrays in other groups, and zarr v3
        # reserves '.', '..' and the '__' prefix.
        if "/" in name or name in (".", "..") or name.startswith("__"):
            raise self.fail(where, f"{what} cannot contain '/', be '.' or '..', or start with '__'")

    def names_to_entries(self, value: Any, where: list[str]) -> dict[str, Mapping]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping of names to entries, not {type(value).__name__}")
        out: dict[str, Mapping] = {}
        for name, spec in value.items():
            try:
                if not isinstance(name, str) or not name:
                    raise self.fail(where + [str(name)], "names must be non-empty text")
                self.check_name(name, where + [name], "a name")
                if spec is None:
                    spec = {}
                if not isinstance(spec, Mapping):
                    raise self.fail(where + [name], f"must be a mapping, not {type(spec).__name__}")
                out[name] = {k: v for k, v in spec.items() if v is not None}
            except _Fault as fault:
                self.record(fault)
        return out

    def overlay(self, entry: _Entry, var_spec: Mapping, var_where: list[str]) -> None:
        """The obsolete form of a coordinate with attributes: VARS keys laid over COORDS."""
        self.check_keys(var_spec, var_where, COORD_KEYS)
        self.warn(var_where, f"also listed in COORDS (an obsolete form): read as one coordinate, "
                             f"the keys of VARS/{entry.name} laid over COORDS/{entry.name}")
        entry.spec.update(var_spec)
        entry.origin.update({k: var_where for k in var_spec})

    def attrs(self, value: Any, where: list[str]) -> dict:
        """Free ATTRS, made storable as zarr attributes (JSON) without losing what they say."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be a mapping")
        budget = [MAX_ATTR_VALUES]

        def storable(item: Any, spot: list[str]) -> Any:
            budget[0] -= 1
            if budget[0] < 0:
                raise self.fail(where, f"more than {MAX_ATTR_VALUES} values (a YAML alias loop?)")
            if item is None or isinstance(item, (bool, int, float, str)):
                return item
            if isinstance(item, (datetime.date, datetime.datetime)):
                self.warn(spot, f"a date is stored as the text {item.isoformat()!r}")
                return item.isoformat()
            if isinstance(item, Mapping):
                out = {}
                for key, sub in item.items():
                    if not isinstance(key, str):
                        self.warn(spot + [str(key)], f"stored under the text key {str(key)!r}")
                    out[str(key)] = storable(sub, spot + [str(key)])
                return out
            if isinstance(item, (list, tuple)):
                return [storable(sub, spot + [str(i)]) for i, sub in enumerate(item)]
            raise self.fail(spot, f"a {type(item).__name__} cannot be stored as an attribute")

        return storable(value, where)

    # -- cross-entry checks ---------------------------------------------------------------
    def implicit_coords(self, where: list[str], vars_: dict, coords: dict, broken: set) -> None:
        """A coordinate named in some coords list but absent from COORDS gets the defaults."""
        for name, var in vars_.items():
            for dim in var.coords:
                if dim in coords or dim in broken:
                    continue
                try:
                    if dim in vars_:
                        raise self.fail(where + ["VARS", name, "coords"],
                                        f"{dim!r} is a variable, not a coordinate")
                    self.check_name(dim, where + ["VARS", name, "coords"], "a coordinate name")
                    coords[dim] = self.coordinate(_Entry(dim, where + ["COORDS", dim]))
                except _Fault as fault:
                    self.record(fault)
                    broken.add(dim)

    def check_composed(self, where: list[str], vars_: dict, coords: dict, broken: set) -> None:
        for name, coord in coords.items():
            spot = where + ["COORDS", name, "composed"]
            for comp in coord.composed:
                if comp in broken:
                    continue
                if comp in coords:
                    self.record(self.fail(spot, f"composed component {comp!r} is a coordinate, "
                                                f"not a variable of this node"))
                elif comp not in vars_:
                    self.record(self.fail(spot, f"composed component {comp!r} is not a variable "
                                                f"of this node"))
                elif vars_[comp].coords != (name,):
                    self.record(self.fail(spot, f"composed component {comp!r} must have "
                                                f"coords: [{name}], not {list(vars_[comp].coords)}"))

    # -- entries --------------------------------------------------------------------------
    def variable(self, entry: _Entry) -> VarSchema:
        return VarSchema(**self.common(entry, is_coord=False))

    def coordinate(self, entry: _Entry) -> CoordSchema:
        merge = self.merge_block(entry)
        spec = entry.spec
        composed = tuple(self.names(spec["composed"], entry.at("composed"))) if "composed" in spec else ()
        if composed == (entry.name,):
            composed = ()          # zarr-fuse's way of writing a simple coordinate
        common = self.common(entry, is_coord=True, composed=composed)
        sorted_, sorted_at = merge.get("sorted", (spec.get("sorted"), entry.at("sorted")))
        if _is_empty(sorted_):
            sorted_ = not composed
        elif not isinstance(sorted_, bool):
            raise self.fail(sorted_at, f"must be true or false (or empty for the default), not {sorted_!r}")
        inserts, inserts_at = merge.get("allow_inserts", (spec.get("allow_inserts"), entry.at("allow_inserts")))
        if not _is_empty(inserts):
            if not isinstance(inserts, bool):
                raise self.fail(inserts_at, f"must be true or false, not {inserts!r}")
            if inserts is False:
                self.warn(inserts_at, "ignored: a new value is always inserted at its sorted "
                                      "place, also before the end (SCHEMA.md 4.3)")
        chunk = spec.get("chunk_size")
        explicit = chunk is not None
        if not explicit:
            chunk = DEFAULT_CHUNK if sorted_ and not composed else DEFAULT_UNSORTED_CHUNK
        elif isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise self.fail(entry.at("chunk_size"), f"must be a positive integer, not {chunk!r}")
        limits, limits_at = merge.get("step_limits", (spec.get("step_limits"), entry.at("step_limits")))
        limits = self.step_limits(limits, common["unit"], limits_at)
        return CoordSchema(**common, composed=composed, sorted=sorted_, chunk_size=chunk,
                           chunk_explicit=explicit, step_limits=limits)

    def merge_block(self, entry: _Entry) -> dict[str, tuple[Any, list[str]]]:
        """zarr-fuse's ``merge:`` mapping: each key with the path it was given at."""
        block = entry.spec.get("merge")
        if block is None:
            return {}
        where = entry.at("merge")
        if not isinstance(block, Mapping):
            raise self.fail(where, f"must be a mapping of {', '.join(MERGE_KEYS)}, not {block!r}")
        self.check_keys(block, where, MERGE_KEYS)
        out = {}
        for key in MERGE_KEYS:
            if key not in block or _is_empty(block[key]):
                continue
            top = entry.spec.get(key)
            if not _is_empty(top) and top != block[key]:
                raise self.fail(where + [key], f"{block[key]!r}, but {'/'.join(entry.at(key))} "
                                               f"says {top!r}: give it once")
            out[key] = (block[key], where + [key])
        return out

    def step_limits(self, value: Any, unit: Any, where: list[str]) -> Any:
        if _is_empty(value):
            return "any_new"
        if isinstance(value, str) and value in STEP_LIMIT_WORDS:
            return value
        if not isinstance(value, list) or len(value) != 3:
            raise self.fail(where, f"must be any_new, no_new or [min, max, unit], not {value!r}")
        low, high, step_unit = value
        if not all(_is_number(b) for b in (low, high)) or low > high:
            raise self.fail(where, f"[min, max, unit] needs numbers min <= max, not {low!r}, {high!r}")
        if isinstance(unit, DateTimeUnit):
            if step_unit not in tuple(units.TICKS):
                raise self.fail(where, f"unit {step_unit!r} of a time step must be a tick "
                                       f"({', '.join(units.TICKS)})")
        else:
            try:
                units.parse_unit(step_unit)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
        self.warn(where, f"{value!r} is kept as an attribute; values are stored at their true "
                         f"coordinates, never resampled")
        return list(value)

    def common(self, entry: _Entry, is_coord: bool, composed: tuple = ()) -> dict:
        """The keys a variable and a coordinate share, checked in the order a person reads them."""
        spec, name = entry.spec, entry.name
        if "name" in spec and spec["name"] != name:
            raise self.fail(entry.at("name"), f"{spec['name']!r} differs from the entry's name {name!r}")
        coords = self.coords(entry, is_coord)
        unit, is_bool = self.unit(spec.get("unit"), entry.at("unit"))
        source_unit, _ = self.unit(spec.get("source_unit"), entry.at("source_unit"))
        self.check_source_unit(unit, source_unit, entry)
        declared = spec.get("type")
        if is_bool:
            if declared not in (None, "bool"):
                raise self.fail(entry.at("type"), f"unit {spec['unit']!r} is a boolean; the type "
                                                  f"must be bool or left out, not {declared!r}")
            declared = "bool"
        dtype = self.dtype(declared, unit, composed, spec.get("range"), entry.at("type"))
        if isinstance(unit, str) and not _is_numeric(dtype):
            raise self.fail(entry.at("type"), f"type {dtype} cannot carry the unit {unit!r} "
                                              f"(a unit needs a numeric type)")
        rng = self.range(spec.get("range"), unit, dtype, entry.at("range"))
        na_value = self.na_value(spec.get("na_value"), dtype, entry.at("na_value"))
        df_col = spec.get("df_col", name)
        if not isinstance(df_col, str) or not df_col:
            raise self.fail(entry.at("df_col"), f"must be a column name, not {df_col!r}")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise self.fail(entry.at("description"), f"must be text, not {description!r}")
        return dict(name=name, coords=coords, unit=unit, type=declared, dtype=dtype,
                    na_value=na_value, range=rng, df_col=df_col, source_unit=source_unit,
                    description=description)

    def check_source_unit(self, unit: Any, source_unit: Any, entry: _Entry) -> None:
        if source_unit is None:
            return
        where = entry.at("source_unit")
        if unit is None:
            self.warn(where, "ignored: the variable has no unit to convert to")
        elif isinstance(unit, DateTimeUnit) and not isinstance(source_unit, DateTimeUnit):
            raise self.fail(where, f"a physical unit {source_unit!r} for a date-time variable")
        elif isinstance(unit, str):
            if isinstance(source_unit, DateTimeUnit):
                raise self.fail(where, "a date-time unit for a physical variable")
            try:
                units.check_convertible(source_unit, unit)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None

    def names(self, value: Any, where: list[str]) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or \
                not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, f"must be a name or a list of names, not {value!r}")
        return value

    def coords(self, entry: _Entry, is_coord: bool) -> tuple[str, ...]:
        value, where, name = entry.spec.get("coords"), entry.at("coords"), entry.name
        if is_coord:
            if value is not None and self.names(value, where) != [name]:
                raise self.fail(where, f"a coordinate's coords can only be [{name}], not {value!r}")
            return (name,)
        if value is None:
            raise self.fail(where, "missing: a variable must list its coords")
        dims = self.names(value, where)
        if len(set(dims)) != len(dims):
            raise self.fail(where, f"a coordinate is listed twice in {dims}")
        return tuple(dims)

    def unit(self, value: Any, where: list[str]) -> tuple[str | DateTimeUnit | None, bool]:
        """The unit, and whether it is zarr-fuse's ``bool``/``boolean`` (no physical unit)."""
        if value is None:
            return None, False
        if isinstance(value, Mapping):
            return self.datetime_unit(value, where), False
        if not isinstance(value, str):
            raise self.fail(where, f"must be a unit expression or a date-time mapping, not {value!r}")
        if value.strip().lower() in BOOL_UNITS:
            return None, True
        try:
            units.parse_unit(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None
        return value, False

    def datetime_unit(self, value: Mapping, where: list[str]) -> DateTimeUnit:
        self.check_keys(value, where, DATETIME_KEYS, loose=True)
        try:
            unit = DateTimeUnit(**{k: value[k] for k in DATETIME_KEYS if value.get(k) is not None})
        except ValueError as exc:  # "window: ..." / "epoch: ..."
            raise self.fail(where, str(exc)) from None
        if not isinstance(unit.tick, str) or unit.tick not in units.TICKS:
            raise self.fail(where + ["tick"], f"unknown tick {unit.tick!r} (one of "
                                              f"{', '.join(units.TICKS)}; a tick is one unit, "
                                              f"not a step such as 15m)")
        if not isinstance(unit.tz, str):
            raise self.fail(where + ["tz"], f"must be a zone name or offset, not {unit.tz!r}")
        try:
            units.parse_tz(unit.tz)
        except ValueError as exc:
            raise self.fail(where + ["tz"], str(exc)) from None
        for key in ("dayfirst", "yearfirst"):
            if not isinstance(getattr(unit, key), bool):
                raise self.fail(where + [key], "must be true or false")
        return unit

    def dtype(self, declared: Any, unit: Any, composed: tuple, rng: Any, where: list[str]) -> str:
        if declared is None:
            if composed:
                return "int64"
            if isinstance(unit, DateTimeUnit):
                return f"datetime64[{unit.tick}]"
            if unit is None and isinstance(rng, Mapping) and "discrete" in rng:
                return "str"
            return "float64"
        if not isinstance(declared, str):
            raise self.fail(where, f"must be a type name, not {declared!r}")
        if declared in TYPES:
            return TYPE_ALIASES.get(declared, declared)
        width = _STR_N.match(declared)
        if width:
            if int(width.group(1)) < 1:
                raise self.fail(where, f"{declared!r}: a fixed-width string needs a width of 1 or more")
            return declared
        match = _DATETIME64.match(declared)
        if match and match.group(1) in units.TICKS:
            return declared
        hint = closest(declared, TYPES)
        raise self.fail(where, f"unknown type {declared!r}" + (f", did you mean {hint!r}?" if hint else ""))

    def range(self, value: Any, unit: Any, dtype: str, where: list[str]) -> Range | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            raise self.fail(where, "must be {interval: [lo, hi]}, {interval: [lo, hi, unit]} or {discrete: [...]}")
        (kind, spec), = value.items()
        if kind == "discrete":
            if not isinstance(spec, list) or not spec or \
                    not all(isinstance(label, (str, int, float)) for label in spec):
                raise self.fail(where + ["discrete"], "must be a non-empty list of labels")
            return Range(labels=tuple(spec))
        if kind != "interval":
            typo = near_miss(kind, RANGE_KINDS) or closest(kind, RANGE_KINDS)
            raise self.fail(where + [str(kind)], "unknown key" + (f", did you mean {typo!r}?" if typo else ""))
        if not isinstance(spec, list) or len(spec) not in (2, 3):
            raise self.fail(where + ["interval"], "must be [lo, hi] or [lo, hi, unit]")
        if not _is_numeric(dtype) or dtype == "bool":
            raise self.fail(where + ["interval"], f"an interval needs a numeric type, not {dtype}")
        lo, hi = spec[0], spec[1]
        if not all(_is_number(b) for b in (lo, hi)):
            raise self.fail(where + ["interval"], f"bounds must be numbers, not {lo!r}, {hi!r}")
        if lo > hi:
            raise self.fail(where + ["interval"], f"lower bound {lo} is above upper bound {hi}")
        own = unit if isinstance(unit, str) else None
        bound_unit = spec[2] if len(spec) == 3 else own
        if len(spec) == 3:
            try:
                units.parse_unit(bound_unit)
                if own is not None:
                    units.check_convertible(bound_unit, own)
                    lo, hi = (units.convert_scalar(b, bound_unit, own) for b in (lo, hi))
                    bound_unit = own
            except ValueError as exc:
                raise self.fail(where + ["interval"], str(exc)) from None
        return Range(lo=float(lo), hi=float(hi), unit=bound_unit)

    def na_value(self, value: Any, dtype: str, where: list[str]) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and math.isnan(value):
            value = "nan"
        if isinstance(value, str) and value in ("nan", "max_int", "min_int"):
            if value == "nan" and not dtype.startswith(("float", "complex")):
                raise self.fail(where, f"nan is not a value of type {dtype}")
            if value != "nan" and not dtype.startswith(("int", "uint")):
                raise self.fail(where, f"{value} needs an integer type, not {dtype}")
            return value
        if not isinstance(value, (int, float, str, bool)):
            raise self.fail(where, f"must be nan, max_int, min_int or a literal, not {value!r}")
        if not _fits(value, dtype):
            raise self.fail(where, f"{value!r} is not a value of type {dtype}")
        return value


def _is_empty(value: Any) -> bool:
    """``sorted:``, ``sorted: None``, ``sorted: []``: a key left empty means its default."""
    return value in _EMPTY or (isinstance(value, (list, dict)) and not value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not \
        (isinstance(value, float) and math.isnan(value))


def _is_numeric(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float", "complex", "bool"))


def _fits(value: Any, dtype: str) -> bool:
    """Whether an ``na_value`` literal is a value of the variable's type (``-999`` of int8 is not)."""
    if dtype.startswith(("str", "datetime64")):
        return not isinstance(value, bool)
    if dtype == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    if dtype.startswith(("float", "complex")):
        return True
    if not math.isfinite(number) or number != int(number):
        return False
    try:               # exactly, not through a float: 2**63 - 1 is the top of an int64
        whole = int(value) if not isinstance(value, float) else int(number)
    except ValueError:
        whole = int(number)
    info = np.iinfo(np.dtype(dtype))
    return info.min <= whole <= info.max
