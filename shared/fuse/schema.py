"""The zarr-fuse schema language (SCHEMA.md section 1): loading and strict validation.

A schema is a tree of nodes; each node has ``ATTRS``, ``VARS`` and ``COORDS`` and any other key
is a child node. Loading is pure: a YAML file or a mapping in, an immutable ``Schema`` out, or a
``SchemaError`` naming the file and the key path (with a "did you mean" for misspelt keys).
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import units
from .errors import SchemaError
from .units import DateTimeUnit

RESERVED = ("ATTRS", "VARS", "COORDS")
VAR_KEYS = ("coords", "unit", "type", "na_value", "range", "df_col", "source_unit", "description")
COORD_KEYS = VAR_KEYS + ("composed", "sorted", "chunk_size", "step_limits")
DATETIME_KEYS = ("tick", "tz", "dayfirst", "yearfirst", "epoch", "window")   # the last two: units.py
TYPES = ("bool", "int", "int8", "int32", "int64", "uint", "uint8", "uint32", "uint64", "float",
         "float32", "float64", "complex", "complex64", "complex128", "str")
_STR_N = re.compile(r"^str\[(\d+)\]$")
_DATETIME64 = re.compile(r"^datetime64\[(\w+)\]$")
DEFAULT_CHUNK = 1024


@dataclass(frozen=True)
class Range:
    """``{interval: [lo, hi, unit]}`` (bounds already in the variable's unit) or ``{discrete: [...]}``."""
    lo: float | None = None
    hi: float | None = None
    unit: str | None = None
    labels: tuple | None = None

    def as_mapping(self) -> dict:
        if self.labels is not None:
            return {"discrete": list(self.labels)}
        return {"interval": [self.lo, self.hi, self.unit]}


@dataclass(frozen=True)
class VarSchema:
    """One variable (or coordinate) of a node, with every default filled in."""
    name: str
    coords: tuple[str, ...]
    unit: str | DateTimeUnit | None = None
    type: str | None = None            # as declared; ``dtype`` is the effective numpy type
    dtype: str = "float64"
    na_value: Any = None
    range: Range | None = None
    df_col: str = ""
    source_unit: str | DateTimeUnit | None = None
    description: str | None = None

    @property
    def is_time(self) -> bool:
        return isinstance(self.unit, DateTimeUnit)

    def entry(self) -> dict:
        """The ``__structure__`` / array-attribute form of this entry (SCHEMA.md appendix)."""
        out: dict[str, Any] = {"name": self.name, "coords": list(self.coords),
                               "unit": _unit_entry(self.unit), "type": self.type}
        if self.na_value is not None:
            out["na_value"] = self.na_value
        if self.description is not None:
            out["description"] = self.description
        out["df_col"] = self.df_col
        out["source_unit"] = _unit_entry(self.source_unit)
        out["range"] = self.range.as_mapping() if self.range else None
        return out


@dataclass(frozen=True)
class CoordSchema(VarSchema):
    composed: tuple[str, ...] = ()
    sorted: bool = True
    chunk_size: int = DEFAULT_CHUNK
    step_limits: Any = "any_new"

    def entry(self) -> dict:
        out = super().entry()
        out.update(composed=list(self.composed), chunk_size=self.chunk_size,
                   step_limits=self.step_limits, sorted=self.sorted)
        return out


@dataclass(frozen=True)
class NodeSchema:
    """The dataset schema of one node: its own ATTRS, COORDS and VARS (not its children)."""
    path: str
    attrs: Mapping[str, Any]
    coords: Mapping[str, CoordSchema]
    vars: Mapping[str, VarSchema]
    children: tuple[str, ...] = ()

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.coords)

    def components(self) -> set[str]:
        return {c for coord in self.coords.values() for c in coord.composed}

    def required_columns(self) -> list[str]:
        """Input columns every upload must have: coordinates, or the components of composed ones."""
        cols: list[str] = []
        for coord in self.coords.values():
            names = [self.vars[c].df_col for c in coord.composed] if coord.composed else [coord.df_col]
            cols.extend(c for c in names if c not in cols)
        return cols

    def variable_columns(self) -> list[str]:
        """Input columns of the other variables (each optional in an upload)."""
        skip = self.components()
        return [v.df_col for name, v in self.vars.items() if name not in skip]

    def structure(self) -> dict:
        """The node's own schema as stored in the group attribute ``__structure__``."""
        return {"ATTRS": dict(self.attrs),
                "COORDS": {n: c.entry() for n, c in self.coords.items()},
                "VARS": {n: v.entry() for n, v in self.vars.items()}}


@dataclass(frozen=True)
class Schema:
    """A loaded schema: every node by its path (``""`` is the root)."""
    source: str
    nodes: Mapping[str, NodeSchema] = field(default_factory=dict)

    @property
    def attrs(self) -> Mapping[str, Any]:
        return self.nodes[""].attrs

    def node_schema(self, path: str) -> NodeSchema:
        key = normalize_path(path)
        if key not in self.nodes:
            raise SchemaError(f"{self.source}: {path!r} is not a node of the schema "
                              f"(nodes: {', '.join(repr(p) for p in self.nodes)})")
        return self.nodes[key]


def normalize_path(path: str) -> str:
    return "/".join(part for part in str(path).split("/") if part)


def load_schema(source: str | Path | Mapping) -> Schema:
    """Load and validate a schema from a YAML file path or an already parsed mapping."""
    if isinstance(source, Schema):
        return source
    if isinstance(source, Mapping):
        name, tree = "<schema>", source
    else:
        path = Path(source)
        name = path.name
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SchemaError(f"{path}: cannot read the schema ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise SchemaError(f"{name}: not valid YAML ({exc})".replace("\n", " ")) from None
    if tree is None:
        tree = {}
    nodes: dict[str, NodeSchema] = {}
    _Loader(name).node(tree, "", nodes)
    return Schema(source=name, nodes=nodes)


def _unit_entry(unit: str | DateTimeUnit | None) -> Any:
    if unit is None:
        return None
    if isinstance(unit, DateTimeUnit):
        return unit.as_mapping()
    return units.long_name(unit)


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: list[str], problem: str) -> SchemaError:
        key = "/".join(where) or "(top)"
        return SchemaError(f"{self.source}: {key}: {problem}")

    def unknown(self, where: list[str], key: str, allowed: tuple[str, ...]) -> SchemaError:
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
        if not close:
            close = [a for a in allowed if a.lower() == str(key).lower()]
        hint = f", did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
        return self.fail(where + [str(key)], f"unknown key{hint}")

    def node(self, tree: Any, path: str, nodes: dict[str, NodeSchema]) -> None:
        where = path.split("/") if path else []
        if not isinstance(tree, Mapping):
            raise self.fail(where, f"a node must be a mapping, not {type(tree).__name__}")
        children = []
        for key, value in tree.items():
            if not isinstance(key, str) or not key.strip():
                raise self.fail(where + [str(key)], "node names must be non-empty text")
            if key in RESERVED:
                continue
            looks_reserved = key.upper() in RESERVED or difflib.get_close_matches(key, RESERVED, 1, 0.7)
            if looks_reserved or not isinstance(value, Mapping) or "/" in key:
                raise self.unknown(where, key, RESERVED)
            children.append(key)
        attrs = tree.get("ATTRS") or {}
        if not isinstance(attrs, Mapping):
            raise self.fail(where + ["ATTRS"], "must be a mapping")
        raw_vars = self.mapping(tree.get("VARS"), where + ["VARS"])
        raw_coords = self.mapping(tree.get("COORDS"), where + ["COORDS"])
        vars_ = {name: self.variable(name, spec, where + ["VARS", name], VAR_KEYS)
                 for name, spec in raw_vars.items()}
        coords = {name: self.variable(name, spec, where + ["COORDS", name], COORD_KEYS)
                  for name, spec in raw_coords.items()}
        for name in vars_:
            if name in coords:
                raise self.fail(where + ["VARS", name], "is also a coordinate (COORDS/" + name + ")")
        for name, var in vars_.items():      # coordinates named only in a coords list
            for dim in var.coords:
                if dim not in coords:
                    if dim in vars_:
                        raise self.fail(where + ["VARS", name, "coords"],
                                        f"{dim!r} is a variable, not a coordinate")
                    coords[dim] = self.variable(dim, {}, where + ["COORDS", dim], COORD_KEYS)
        for name, coord in coords.items():
            for comp in coord.composed:
                spot = where + ["COORDS", name, "composed"]
                if comp not in vars_:
                    raise self.fail(spot, f"composed component {comp!r} is not a variable of this node")
                if vars_[comp].coords != (name,):
                    raise self.fail(spot, f"composed component {comp!r} must have coords: [{name}]")
        nodes[path] = NodeSchema(path=path, attrs=dict(attrs), coords=coords, vars=vars_,
                                 children=tuple(children))
        for child in children:
            self.node(tree[child], f"{path}/{child}" if path else child, nodes)

    def mapping(self, value: Any, where: list[str]) -> Mapping:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping of names to entries, not {type(value).__name__}")
        return value

    def variable(self, name: str, spec: Any, where: list[str], allowed: tuple[str, ...]) -> VarSchema:
        is_coord = allowed is COORD_KEYS
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise self.fail(where, f"must be a mapping, not {type(spec).__name__}")
        for key in spec:
            if key not in allowed:
                raise self.unknown(where, key, allowed)
        coords = self.coords(name, spec.get("coords"), where, is_coord)
        unit = self.unit(spec.get("unit"), where + ["unit"])
        source_unit = self.unit(spec.get("source_unit"), where + ["source_unit"])
        if source_unit is not None and unit is not None and not isinstance(unit, DateTimeUnit):
            if isinstance(source_unit, DateTimeUnit):
                raise self.fail(where + ["source_unit"], "a date-time unit for a physical variable")
            try:
                units.check_convertible(source_unit, unit)
            except ValueError as exc:
                raise self.fail(where + ["source_unit"], str(exc)) from None
        composed = tuple(self.names(spec.get("composed", []), where + ["composed"]))
        declared = spec.get("type")
        dtype = self.dtype(declared, unit, composed, spec.get("range"), where + ["type"])
        rng = self.range(spec.get("range"), unit, dtype, where + ["range"])
        na_value = self.na_value(spec.get("na_value"), dtype, where + ["na_value"])
        df_col = spec.get("df_col", name)
        if not isinstance(df_col, str) or not df_col:
            raise self.fail(where + ["df_col"], "must be a column name")
        description = spec.get("description")
        if description is not None and not isinstance(description, str):
            raise self.fail(where + ["description"], "must be text")
        common = dict(name=name, coords=coords, unit=unit, type=declared, dtype=dtype,
                      na_value=na_value, range=rng, df_col=df_col, source_unit=source_unit,
                      description=description)
        if not is_coord:
            return VarSchema(**common)
        sorted_ = spec.get("sorted", not composed)
        if not isinstance(sorted_, bool):
            raise self.fail(where + ["sorted"], "must be true or false")
        chunk = spec.get("chunk_size", DEFAULT_CHUNK)
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise self.fail(where + ["chunk_size"], f"must be a positive integer, not {chunk!r}")
        limits = spec.get("step_limits", "any_new")
        if limits not in ("any_new", "no_new") and not (isinstance(limits, list) and len(limits) == 3):
            raise self.fail(where + ["step_limits"], "must be any_new, no_new or [min, max, unit]")
        return CoordSchema(**common, composed=composed, sorted=sorted_, chunk_size=chunk,
                           step_limits=limits)

    def names(self, value: Any, where: list[str]) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(where, "must be a name or a list of names")
        return value

    def coords(self, name: str, value: Any, where: list[str], is_coord: bool) -> tuple[str, ...]:
        if is_coord:
            if value is not None and self.names(value, where + ["coords"]) != [name]:
                raise self.fail(where + ["coords"], f"a coordinate's coords can only be [{name}]")
            return (name,)
        if value is None:
            raise self.fail(where + ["coords"], "missing: a variable must list its coords")
        dims = self.names(value, where + ["coords"])
        if len(set(dims)) != len(dims):
            raise self.fail(where + ["coords"], "a coordinate is listed twice")
        return tuple(dims)

    def unit(self, value: Any, where: list[str]) -> str | DateTimeUnit | None:
        if value is None:
            return None
        if isinstance(value, Mapping):
            for key in value:
                if key not in DATETIME_KEYS:
                    raise self.unknown(where, key, DATETIME_KEYS)
            try:
                unit = DateTimeUnit(**{k: value[k] for k in DATETIME_KEYS if k in value})
            except ValueError as exc:     # "window: ..." / "epoch: ..."
                raise self.fail(where, str(exc)) from None
            if unit.tick not in units.TICKS:
                raise self.fail(where + ["tick"], f"unknown tick {unit.tick!r} (one of {', '.join(units.TICKS)})")
            try:
                units.parse_tz(unit.tz)
            except ValueError as exc:
                raise self.fail(where + ["tz"], str(exc)) from None
            for key in ("dayfirst", "yearfirst"):
                if not isinstance(getattr(unit, key), bool):
                    raise self.fail(where + [key], "must be true or false")
            return unit
        if not isinstance(value, str):
            raise self.fail(where, f"must be a unit expression or a date-time mapping, not {value!r}")
        try:
            units.parse_unit(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None
        return value

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
        if declared in TYPES or _STR_N.match(declared):
            return {"int": "int64", "uint": "uint64", "float": "float64",
                    "complex": "complex128"}.get(declared, declared)
        match = _DATETIME64.match(declared)
        if match and match.group(1) in units.TICKS:
            return declared
        close = difflib.get_close_matches(declared, TYPES, n=1, cutoff=0.5)
        hint = f", did you mean {close[0]!r}?" if close else ""
        raise self.fail(where, f"unknown type {declared!r}{hint}")

    def range(self, value: Any, unit: Any, dtype: str, where: list[str]) -> Range | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            raise self.fail(where, "must be {interval: [lo, hi]} , {interval: [lo, hi, unit]} or {discrete: [...]}")
        (kind, spec), = value.items()
        if kind == "discrete":
            if not isinstance(spec, list) or not spec:
                raise self.fail(where + ["discrete"], "must be a non-empty list of labels")
            return Range(labels=tuple(spec))
        if kind != "interval":
            raise self.unknown(where, kind, ("interval", "discrete"))
        if not isinstance(spec, list) or len(spec) not in (2, 3):
            raise self.fail(where + ["interval"], "must be [lo, hi] or [lo, hi, unit]")
        lo, hi = spec[0], spec[1]
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in (lo, hi)):
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
        if isinstance(value, str) and value in ("nan", "max_int", "min_int"):
            if value == "nan" and not dtype.startswith(("float", "complex")):
                raise self.fail(where, f"nan is not a value of type {dtype}")
            if value != "nan" and not dtype.startswith(("int", "uint")):
                raise self.fail(where, f"{value} needs an integer type, not {dtype}")
            return value
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, (int, float, str, bool)):
            return value
        raise self.fail(where, f"must be nan, max_int, min_int or a literal, not {value!r}")
