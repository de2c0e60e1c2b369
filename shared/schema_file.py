"""A schema file that is reloaded when it changes, so a fixed schema needs no restart (issue 12).

``WatchedSchema.refresh()`` looks at the file's mtime and size (one stat); only when they moved
does it read the file, and only when its sha256 differs from the version in force does it load
it. A new version that does not load (bad YAML, invalid schema) is refused with one log line
naming the file, and the version in force stays; the refusal is logged once per version. The
worker refreshes at each batch, the gateway at most once a second (``min_interval``). SIGHUP
(``force_reload``) makes the next refresh of every watched schema read its file whatever its mtime
says: an edit within the filesystem's timestamp granularity, or a copy that kept the old mtime.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from shared.fuse import Schema, load_schema
from shared.fuse.errors import SchemaError
from shared.logs import log_event

log = logging.getLogger("zarr_ingress.schema")

_generation = [0]  # bumped by force_reload(); each watcher remembers the one it has seen


def force_reload() -> None:
    """Have every WatchedSchema read its file at its next refresh (the SIGHUP handler calls this)."""
    _generation[0] += 1


class WatchedSchema:
    """The schema in force for one file; raises SchemaError at construction when it is invalid."""

    def __init__(self, path: Path | str, *, min_interval: float = 0.0) -> None:
        self.path = Path(path)
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._stamp = self._stat()
        data = self.path.read_bytes() if self._stamp else b""
        self._digest = hashlib.sha256(data).hexdigest()
        self._refused = ""
        self.schema: Schema = load_schema(self.path)
        self._checked = time.monotonic()
        self._generation = _generation[0]

    def refresh(self) -> Schema:
        """The schema in force after looking at the file (at most every `min_interval` seconds)."""
        now = time.monotonic()
        forced = self._generation != _generation[0]
        if not forced and now - self._checked < self.min_interval:
            return self.schema
        with self._lock:
            self._checked = now
            self._generation = _generation[0]
            stamp = self._stat()
            if stamp == self._stamp and not forced:
                return self.schema
            self._stamp = stamp
            try:
                data = self.path.read_bytes()
            except OSError as error:
                self._refuse(f"cannot read it ({error.strerror or error})", f"unreadable:{error.errno}")
                return self.schema
            digest = hashlib.sha256(data).hexdigest()
            if digest == self._digest or digest == self._refused:
                return self.schema
            try:
                schema = load_schema(self.path)
            except SchemaError as error:
                self._refuse(str(error).replace("\n", " "), digest)
                return self.schema
            self.schema, self._digest, self._refused = schema, digest, ""
            log_event(log, "schema_reloaded", file=self.path, sha256=digest[:12])
            for warning in getattr(schema, "warnings", ()):
                log_event(log, "schema_warning", logging.WARNING, file=self.path, warning=warning)
            return self.schema

    def _refuse(self, reason: str, version: str) -> None:
        if version != self._refused:
            log_event(log, "schema_reload_refused", logging.ERROR, file=self.path, reason=reason,
                      hint="the previous version stays in force until the file is fixed")
        self._refused = version

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size


def current(schema: Any) -> Any:
    """The schema to use now: refreshed when `schema` is watched, as given otherwise."""
    return schema.refresh() if isinstance(schema, WatchedSchema) else schema
