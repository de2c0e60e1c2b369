"""The users in force: BASIC_AUTH_USERS_JSON plus USERS_FILE, the file re-read when it changes.

Like a watched schema (shared/schema_file.py): at most once a second (`min_interval`) one stat
of the file; only when its mtime or size moved is it read, and only when its sha256 differs
from the version in force is it parsed. A new version that does not validate is refused with
one log line naming the file and the problem (never a secret), once per version, and the
version in force stays. A file that disappears is a refusal too: deleting it by mistake must
not lock every logger out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from shared.config import ConfigError, Settings, User
from shared.config.users import parse_users, users_from_json
from shared.logs import log_event

log = logging.getLogger("zarr_ingress.gateway")


class UsersInForce:
    def __init__(self, settings: Settings, *, min_interval: float = 1.0) -> None:
        self.path: Path | None = settings.users_file
        self.min_interval = min_interval
        self._json = users_from_json(settings.users)
        self._endpoints = tuple(e.name for e in settings.endpoints)
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._digest = self._read_digest()
        self._refused = ""
        self._checked = time.monotonic()
        self.version = 0  # bumped at each reload: remembered successes of older versions are dropped
        self.users: Mapping[str, User] = self._combined(settings.file_users)

    def current(self) -> Mapping[str, User]:
        """The users in force after looking at the file (at most every `min_interval` seconds)."""
        if self.path is None:
            return self.users
        now = time.monotonic()
        if now - self._checked < self.min_interval:
            return self.users
        with self._lock:
            self._checked = now
            stamp = self._stat()
            if stamp == self._stamp:
                return self.users
            self._stamp = stamp
            try:
                data = self.path.read_bytes()
            except OSError as error:
                self._refuse(f"cannot read it ({error.strerror or error})", f"unreadable:{error.errno}")
                return self.users
            digest = hashlib.sha256(data).hexdigest()
            if digest in (self._digest, self._refused):
                return self.users
            try:
                text = data.decode("utf-8")
                users = parse_users(f"USERS_FILE {self.path}", text, self._endpoints,
                                    frozenset(u.name for u in self._json))
            except (ConfigError, UnicodeDecodeError) as error:
                self._refuse(str(error) if isinstance(error, ConfigError) else "not UTF-8 text", digest)
                return self.users
            self.users, self._digest, self._refused = self._combined(users), digest, ""
            self.version += 1
            log_event(log, "users_reloaded", file=self.path, users=len(users), sha256=digest[:12])
            return self.users

    def _combined(self, file_users: tuple[User, ...]) -> dict[str, User]:
        return {user.name: user for user in (*self._json, *file_users)}

    def _refuse(self, reason: str, version: str) -> None:
        if version != self._refused:
            log_event(log, "users_reload_refused", logging.ERROR, file=self.path, reason=reason,
                      hint="the users in force stay until the file is fixed")
        self._refused = version

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path) if self.path else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat else None

    def _read_digest(self) -> str:
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest() if self.path else ""
        except OSError:
            return ""
