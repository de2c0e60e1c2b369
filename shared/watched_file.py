"""A file in force until a valid new version replaces it: the schemas, the gateway's users file.

``refresh()`` looks at the file at most once every ``min_interval`` seconds (one stat); only when
its mtime or size moved is it read, and only when its sha256 differs from the version in force
is it loaded. A new version that does not load (its loader raises ``Refused``), or a file that
cannot be read or is gone, is refused with one log line naming the file and the reason (never
its content), once per version, and the version in force stays: a half-saved edit or a deleted
file must not take the service down. ``refresh(force=True)`` reads the file whatever its mtime
says (an edit within the filesystem's timestamp granularity, a copy that kept the old mtime).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from shared.logs import log_event

Value = TypeVar("Value")
Stamp = tuple[int, int] | None  # (mtime_ns, size); None when the file cannot be stat'ed


class Refused(Exception):
    """A new version that does not load; ``str()`` is the reason, one line, naming the key."""


class WatchedFile(Generic[Value]):
    """`value`, the version of `path` in force; `version` counts the reloads."""

    def __init__(self, path: Path, first: Callable[[], Value], load: Callable[[bytes], Value], *,
                 min_interval: float, log: logging.Logger, refused_event: str, hint: str,
                 reloaded: Callable[[Value, str], None]) -> None:
        """`first()` is the version in force at the start (its errors are the caller's: a bad
        first version stops the start); `load` makes a new version's value or raises Refused;
        `reloaded(value, sha256)` logs a new version in force."""
        self.path = path
        self.version = 0
        self.min_interval = min_interval
        self._load, self._log, self._refused_event, self._hint = load, log, refused_event, hint
        self._reloaded = reloaded
        self._lock = threading.Lock()
        # Stat and hash before the first load: an edit in between is then seen at the next look.
        self._stamp = _stat(path)
        try:
            self._digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            self._digest = ""
        self._refused = ""
        self.value = first()
        self._checked = time.monotonic()

    def refresh(self, *, force: bool = False) -> Value:
        """The value in force after looking at the file (at most every `min_interval` seconds)."""
        now = time.monotonic()
        if not force and now - self._checked < self.min_interval:
            return self.value
        with self._lock:
            self._checked = now
            stamp = _stat(self.path)
            if stamp == self._stamp and not force:
                return self.value
            self._stamp = stamp
            try:
                data = self.path.read_bytes()
            except OSError as error:
                self._refuse(f"cannot read it ({error.strerror or error})", f"unreadable:{error.errno}")
                return self.value
            digest = hashlib.sha256(data).hexdigest()
            if digest in (self._digest, self._refused):
                return self.value
            try:
                value = self._load(data)
            except Refused as error:
                self._refuse(str(error).replace("\n", " "), digest)
                return self.value
            self.value, self._digest, self._refused = value, digest, ""
            self.version += 1
            self._reloaded(value, digest)
            return self.value

    def _refuse(self, reason: str, version: str) -> None:
        if version != self._refused:
            log_event(self._log, self._refused_event, logging.ERROR, file=self.path, reason=reason, hint=self._hint)
        self._refused = version


def _stat(path: Path) -> Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
