"""The merge engine: the zarr-fuse schema language, unit conversion and the keyed upsert.

    from shared.fuse import load_schema, open_store
    root = open_store(load_schema("schemas/weather_schema_v1.yaml"))
    summary = root["a/b"].update(table)

See SCHEMA.md for the language and the merge rules, ``docs/internals.md`` for the contract.
This package knows nothing of HTTP or queues.
"""
from .convert import PreparedTable
from .errors import DataError, FuseError, SchemaError, StoreError
from .node import MergeSummary, Node, open_store
from .schema import CoordSchema, NodeSchema, Schema, VarSchema, load_schema

__all__ = ["load_schema", "open_store", "Schema", "NodeSchema", "VarSchema", "CoordSchema",
           "Node", "MergeSummary", "PreparedTable", "FuseError", "SchemaError", "DataError",
           "StoreError"]
