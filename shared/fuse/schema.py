"""The zarr-fuse schema language (SCHEMA.md section 1): the loaded model and its defaults.

A schema is a tree of nodes; each node has ``ATTRS``, ``VARS`` and ``COORDS`` and any other key
is a child node. Loading is pure: a YAML file or a mapping in, an immutable ``Schema`` out (with
its ``warnings``), or a ``SchemaError`` naming the file and the key path, real culprit first.
The checks themselves live in ``schema_loader``, the key tables in ``schema_keys``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import units
from .errors import SchemaError, SchemaFinding
from .units import DateTimeUnit

# Defaulted chunk lengths (SCHEMA.md, chunk_size): long runs along a sorted simple coordinate
# (time), short ones along the others (stations, depths), and never more than MAX_DEFAULT_CELLS
# cells per chunk of a variable, so that a first merge of a 3-D variable allocates megabytes,
# not the 8 GB of 1024^3 cells.
DEFAULT_CHUNK = 1024
DEFAULT_UNSORTED_CHUNK = 64
MAX_DEFAULT_CELLS = 2 ** 20


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
    chunk_size: int = DEFAULT_CHUNK    # explicit, or the default for this coordinate alone
    chunk_explicit: bool = False
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

    def chunk_shape(self, var: VarSchema) -> tuple[int, ...]:
        """The chunk of a variable's array: each dimension's ``chunk_size``, where defaulted
        lengths halve (the longest first) until the chunk holds at most MAX_DEFAULT_CELLS."""
        shape = [self.coords[d].chunk_size for d in var.coords]
        free = [i for i, d in enumerate(var.coords) if not self.coords[d].chunk_explicit]
        while math.prod(shape) > MAX_DEFAULT_CELLS:
            # ties shrink the last dimension first: a long run along time is what readers want
            longest = max(free, key=lambda i: (shape[i], i), default=None)
            if longest is None or shape[longest] == 1:
                break          # explicit lengths are kept as written, whatever they multiply to
            shape[longest] = max(1, shape[longest] // 2)
        return tuple(shape)

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
    # obsolete or ignored constructs: logged once when a process starts, never an error
    warnings: tuple[SchemaFinding, ...] = ()

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
        except RecursionError:
            raise SchemaError(f"{name}: not a usable schema (nested too deeply)") from None
    from .schema_loader import Loader   # the loader builds this module's records
    loader = Loader(name)
    nodes: dict[str, NodeSchema] = {}
    loader.node(tree, "", nodes)
    if loader.errors:
        first, *more = loader.errors
        message = str(first)
        if more:
            message += f" (and {len(more)} more: " + "; ".join(str(e) for e in more[:3]) + \
                       ("; ..." if len(more) > 3 else "") + ")"
        raise SchemaError(message, findings=[*loader.errors, *loader.warnings])
    return Schema(source=name, nodes=nodes, warnings=tuple(loader.warnings))


def _unit_entry(unit: str | DateTimeUnit | None) -> Any:
    if unit is None:
        return None
    if isinstance(unit, DateTimeUnit):
        return unit.as_mapping()
    return units.long_name(unit)
