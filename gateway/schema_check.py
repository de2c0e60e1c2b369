"""The schema part of the gateway's cheap check: does the upload fit its endpoint's schema at all?

Schemas are loaded when the app is created (an invalid schema stops the gateway like any other
bad configuration) and reloaded when their file changes, looked at no more than once a second
(``shared/schema_file.py``: an invalid new version is refused with a log line, the old one stays). Per upload, only names are compared, never values:
* the node path must be a node of the schema;
* the columns must include every required column of the node (its coordinates, or their
  components) and at least one of its variable columns.
Whether the values convert is the merge engine's business in the worker.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import BadUpload
from shared.config import ConfigError, Endpoint
from shared.fuse import NodeSchema, SchemaError
from shared.schema_file import WatchedSchema

RELOAD_SECONDS = 1.0  # a changed schema file is noticed within this long, at one stat per second


class SchemaCheck:
    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.schemas: dict[str, WatchedSchema] = {}
        for endpoint in endpoints:
            try:
                self.schemas[endpoint.name] = WatchedSchema(endpoint.schema_path, min_interval=RELOAD_SECONDS)
            except SchemaError as error:
                message = str(error).replace("\n", " ")
                raise ConfigError(f"{endpoint.schema_path}: invalid schema of endpoint {endpoint.name!r}: {message}") from None

    def node(self, endpoint: str, node_path: str) -> NodeSchema:
        schema = self.schemas[endpoint].refresh()
        try:
            return schema.node_schema(node_path)
        except SchemaError:
            nodes = ", ".join(repr(path) for path in schema.nodes)
            raise BadUpload(f"node path {node_path!r} is not a node of the {endpoint} schema (nodes: {nodes})") from None

    def columns(self, node: NodeSchema, columns: list[str]) -> None:
        present = set(columns)
        missing = [c for c in node.required_columns() if c not in present]
        if missing:
            raise BadUpload(
                f"missing required column(s) {', '.join(missing)} for node {node.path or '/'!r}; "
                f"the upload has {', '.join(columns)}"
            )
        variables = node.variable_columns()
        if variables and not present.intersection(variables):
            unknown = [c for c in columns if c not in node.required_columns()]
            raise BadUpload(
                f"no variable column of node {node.path or '/'!r} in the upload: expected at least one of "
                f"{', '.join(variables)}; unknown column(s): {', '.join(unknown) or 'none'}"
            )
