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
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import SchemaFinding
from .schema import DEFAULT_CHUNK, DEFAULT_UNSORTED_CHUNK, CoordSchema, NodeSchema, VarSchema
from .schema_keys import COORD_KEYS, COORD_ONLY_KEYS, MERGE_KEYS, RESERVED, VAR_KEYS, near_miss
from .schema_values import EntryFault, ValueChecks, is_empty, is_numeric

MAX_NODE_DEPTH = 32           # a deeper tree is a YAML alias loop or a mistake, not a deployment
MAX_ATTR_VALUES = 10_000      # bounds the walk over ATTRS (aliases can make them explode)


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


class Loader(ValueChecks):
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[SchemaFinding] = []
        self.warnings: list[SchemaFinding] = []

    # -- findings -------------------------------------------------------------------------
    def _finding(self, where: list[str], message: str, severity: str) -> SchemaFinding:
        return SchemaFinding(self.source, "/".join(str(w) for w in where), message, severity)

    def warn(self, where: list[str], message: str) -> None:
        self.warnings.append(self._finding(where, message, "warning"))

    def record(self, fault: EntryFault) -> None:
        self.errors.append(self._finding(fault.where, fault.message, "error"))

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
            except EntryFault as fault:
                self.record(fault)
                broken.add(name)
        for name, spec in raw_vars.items():
            if name in raw_coords:
                continue
            try:
                self.check_keys(spec, where + ["VARS", name], VAR_KEYS, ignored=COORD_ONLY_KEYS)
                vars_[name] = self.variable(_Entry(name, where + ["VARS", name], dict(spec),
                                                   {k: where + ["VARS", name] for k in spec}))
            except EntryFault as fault:
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
        except EntryFault as fault:
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
            except EntryFault as fault:
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
            except EntryFault as fault:
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
                except EntryFault as fault:
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
        if is_empty(sorted_):
            sorted_ = not composed
        elif not isinstance(sorted_, bool):
            raise self.fail(sorted_at, f"must be true or false (or empty for the default), not {sorted_!r}")
        inserts, inserts_at = merge.get("allow_inserts", (spec.get("allow_inserts"), entry.at("allow_inserts")))
        if not is_empty(inserts):
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
            if key not in block or is_empty(block[key]):
                continue
            top = entry.spec.get(key)
            if not is_empty(top) and top != block[key]:
                raise self.fail(where + [key], f"{block[key]!r}, but {'/'.join(entry.at(key))} "
                                               f"says {top!r}: give it once")
            out[key] = (block[key], where + [key])
        return out

    def common(self, entry: _Entry, is_coord: bool, composed: tuple = ()) -> dict:
        """The keys a variable and a coordinate share, checked in the order a person reads them."""
        spec, name = entry.spec, entry.name
        if "name" in spec and spec["name"] != name:
            raise self.fail(entry.at("name"), f"{spec['name']!r} differs from the entry's name {name!r}")
        coords = self.coords(entry, is_coord)
        unit, is_bool = self.unit(spec.get("unit"), entry.at("unit"))
        source_unit, _ = self.unit(spec.get("source_unit"), entry.at("source_unit"))
        self.check_source_unit(unit, source_unit, entry.at("source_unit"))
        declared = spec.get("type")
        if is_bool:
            if declared not in (None, "bool"):
                raise self.fail(entry.at("type"), f"unit {spec['unit']!r} is a boolean; the type "
                                                  f"must be bool or left out, not {declared!r}")
            declared = "bool"
        dtype = self.dtype(declared, unit, composed, spec.get("range"), entry.at("type"))
        if isinstance(unit, str) and not is_numeric(dtype):
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
