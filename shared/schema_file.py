"""A schema file that is reloaded when it changes, so a fixed schema needs no restart (issue 12).

``WatchedSchema.refresh()`` is shared/watched_file.py's: one stat, the file read when its mtime
or size moved, loaded when its sha256 changed; a new version that does not load (bad YAML,
invalid schema) is refused with one `schema_reload_refused` line naming the file, once per
version, and the version in force stays. The worker refreshes at each batch, the gateway at most
once a second (``min_interval``). SIGHUP (``force_reload``) makes the next refresh of every
watched schema read its file whatever its mtime says: an edit within the filesystem's timestamp
granularity, or a copy that kept the old mtime.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from shared.fuse import Schema, load_schema
from shared.fuse.errors import SchemaError
from shared.logs import log_event
from shared.watched_file import Refused, WatchedFile

log = logging.getLogger("zarr_ingress.schema")

_generation = [0]  # bumped by force_reload(); each watcher remembers the one it has seen


def force_reload() -> None:
    """Have every WatchedSchema read its file at its next refresh (the SIGHUP handler calls this)."""
    _generation[0] += 1


class WatchedSchema:
    """The schema in force for one file; raises SchemaError at construction when it is invalid."""

    def __init__(self, path: Path | str, *, min_interval: float = 0.0) -> None:
        self.path = Path(path)
        self._file = WatchedFile(self.path, lambda: load_schema(self.path), self._load, min_interval=min_interval,
                                 log=log, refused_event="schema_reload_refused",
                                 hint="the previous version stays in force until the file is fixed",
                                 reloaded=self._reloaded)
        self._generation = _generation[0]

    @property
    def schema(self) -> Schema:
        return self._file.value

    def refresh(self) -> Schema:
        """The schema in force after looking at the file (at most every `min_interval` seconds)."""
        forced, self._generation = self._generation != _generation[0], _generation[0]
        return self._file.refresh(force=forced)

    def _load(self, data: bytes) -> Schema:
        try:
            return load_schema(self.path)
        except SchemaError as error:
            raise Refused(str(error)) from None

    def _reloaded(self, schema: Schema, digest: str) -> None:
        log_event(log, "schema_reloaded", file=self.path, sha256=digest[:12])
        for warning in getattr(schema, "warnings", ()):
            log_event(log, "schema_warning", logging.WARNING, file=self.path, warning=warning)


def current(schema: Any) -> Any:
    """The schema to use now: refreshed when `schema` is watched, as given otherwise."""
    return schema.refresh() if isinstance(schema, WatchedSchema) else schema
