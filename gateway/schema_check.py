"""The schema part of the gateway's cheap check: does the upload fit its endpoint's schema at all?

Schemas are loaded when the app is created (an invalid schema stops the gateway like any other
bad configuration) and reloaded when their file changes, looked at no more than once a second
(``shared/schema_file.py``: an invalid new version is refused with a log line, the old one
stays). Per upload, only names are compared, never values:
* the node path must be a node of the schema;
* the columns must include every required column of the node (its coordinates, or their
  components) and at least one of its variable columns;
* a column the node does not know is never dropped silently: one that looks like a typo of a
  known column (`sap_flw`) rejects the upload naming the column meant; the others are rejected
  when the endpoint says `extra_columns: reject`, else returned so the item records them as
  `ignored_columns`.
Whether the values convert is the merge engine's business in the worker.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from gateway.errors import BadUpload
from shared.config import ConfigError, Endpoint
from shared.fuse import NodeSchema, SchemaError
from shared.schema_file import WatchedSchema
from shared.logs import log_event

RELOAD_SECONDS = 1.0  # a changed schema file is noticed within this long, at one stat per second
COLUMN_CACHE_MAX = 4096  # nodes whose column names are kept (schemas are reloaded, nodes replaced)

log = logging.getLogger("zarr_ingress.gateway")


class SchemaCheck:
    def __init__(self, endpoints: Iterable[Endpoint]) -> None:
        self.schemas: dict[str, WatchedSchema] = {}
        self._columns: dict[int, _NodeColumns] = {}
        for endpoint in endpoints:
            try:
                self.schemas[endpoint.name] = WatchedSchema(endpoint.schema_path, min_interval=RELOAD_SECONDS)
            except SchemaError as error:
                message = str(error).replace("\n", " ")
                raise ConfigError(f"{endpoint.schema_path}: invalid schema of endpoint {endpoint.name!r}: {message}") from None
            target = endpoint.target_node
            nodes = self.schemas[endpoint.name].schema.nodes
            if target and not any(path == target or path.startswith(target + "/") for path in nodes):
                raise ConfigError(
                    f"endpoint {endpoint.name!r}: target_node {target!r} is not a node of {endpoint.schema_path.name} "
                    f"(nodes: {', '.join(repr(p) for p in nodes)})"
                )
            for warning in self.schemas[endpoint.name].schema.warnings:   # once per process start
                log_event(log, "schema_warning", logging.WARNING, endpoint=endpoint.name, warning=warning)

    def node(self, endpoint: str, node_path: str) -> NodeSchema:
        schema = self.schemas[endpoint].refresh()
        try:
            return schema.node_schema(node_path)
        except SchemaError:
            nodes = ", ".join(repr(path) for path in schema.nodes)
            raise BadUpload(f"node path {node_path!r} is not a node of the {endpoint} schema (nodes: {nodes})") from None

    def columns(self, node: NodeSchema, columns: list[str], extra_columns: str = "ignore") -> list[str]:
        """The upload's columns the node does not know (to be ignored); BadUpload if it cannot go in."""
        names = self._names(node)
        unknown = [c for c in columns if c not in names.known_set]
        for column in unknown:
            meant = near_miss(column, names.known)
            if meant is not None:
                raise BadUpload(
                    f"column {column!r} is not in the schema of node {node.path or '/'!r}: did you mean {meant!r}?"
                )
        present = set(columns)
        missing = [c for c in names.required if c not in present]
        if missing:
            raise BadUpload(
                f"missing required column(s) {', '.join(missing)} for node {node.path or '/'!r}; "
                f"the upload has {', '.join(columns)}"
            )
        if names.variables and present.isdisjoint(names.variables):
            others = [c for c in columns if c not in names.required]
            raise BadUpload(
                f"no variable column of node {node.path or '/'!r} in the upload: expected at least one of "
                f"{', '.join(names.variables)}; unknown column(s): {', '.join(others) or 'none'}"
            )
        if unknown and extra_columns == "reject":
            raise BadUpload(
                f"column(s) {', '.join(unknown)} not in the schema of node {node.path or '/'!r}, and this "
                f"endpoint rejects extra columns (extra_columns: reject); known columns: {', '.join(names.known)}"
            )
        return unknown

    def _names(self, node: NodeSchema) -> _NodeColumns:
        # Per node object, so a reloaded schema (new node objects) is never answered from the old one.
        entry = self._columns.get(id(node))
        if entry is None or entry.node is not node:
            if len(self._columns) > COLUMN_CACHE_MAX:
                self._columns.clear()
            entry = self._columns[id(node)] = _NodeColumns(node)
        return entry


class _NodeColumns:
    """The column names of a node, worked out once: every upload to the node asks for them."""

    def __init__(self, node: NodeSchema) -> None:
        self.node = node  # kept, so its id is not reused while this entry stands
        self.required = node.required_columns()
        self.variables = node.variable_columns()
        self.known = self.required + [c for c in self.variables if c not in self.required]
        self.known_set = frozenset(self.known)


_SEPARATORS = re.compile(r"[\s_\-.]+")


def near_miss(column: str, known: Iterable[str]) -> str | None:
    """The known column `column` is most likely a typo of, or None.

    A typo is: the same name but for case and separators (`Sap-Flow`), or, for names of four
    characters or more, one edit away (a letter missing, added, changed or two swapped). Adding
    or changing only digits is not a typo: `battery2` beside `battery` is a second sensor.
    """
    plain = _SEPARATORS.sub("", column).lower()
    for name in known:
        if plain == _SEPARATORS.sub("", name).lower():
            return name
    if len(column) < 4:
        return None
    for name in known:
        if len(name) >= 4 and _one_edit(column, name) and not _differs_in_digits_only(column, name):
            return name
    return None


def _one_edit(a: str, b: str) -> bool:
    """True when a and b differ by one insertion, deletion, substitution or adjacent swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    start = 0
    while start < len(a) and a[start] == b[start]:
        start += 1
    if len(a) < len(b):
        return a[start:] == b[start + 1:]
    if a[start + 1:] == b[start + 1:]:
        return True
    return a[start:start + 2] == b[start:start + 2][::-1] and a[start + 2:] == b[start + 2:]


def _differs_in_digits_only(a: str, b: str) -> bool:
    strip = str.maketrans("", "", "0123456789")
    return a.translate(strip) == b.translate(strip)
