"""The merge engine: the zarr-fuse schema language, unit conversion and the keyed upsert.

    from shared.fuse import load_schema, open_store
    root = open_store(load_schema("schemas/weather_schema_v1.yaml"))
    summary = root["a/b"].update(table)

See SCHEMA.md for the language and the merge rules, ``docs/internals.md`` for the contract.
This package knows nothing of HTTP or queues.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import DataError, FuseError, SchemaError, StoreError
from .schema import CoordSchema, NodeSchema, Schema, VarSchema, load_schema

if TYPE_CHECKING:
    from .convert import PreparedTable
    from .node import MergeSummary, Node, open_store

# The store side (zarr, pandas) is imported at its first use: the gateway reads schemas only,
# and would otherwise hold those libraries in every process (issue 11, gateway memory).
_STORE_SIDE = {"PreparedTable": ".convert", "MergeSummary": ".node", "Node": ".node", "open_store": ".node"}


def __getattr__(name: str) -> Any:
    if name not in _STORE_SIDE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_STORE_SIDE[name], __name__), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value

__all__ = ["load_schema", "open_store", "Schema", "NodeSchema", "VarSchema", "CoordSchema",
           "Node", "MergeSummary", "PreparedTable", "FuseError", "SchemaError", "DataError",
           "StoreError"]
