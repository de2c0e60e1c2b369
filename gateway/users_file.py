"""The users in force: BASIC_AUTH_USERS_JSON plus USERS_FILE, the file re-read when it changes.

The file is watched like a schema (shared/watched_file.py): at most once a second
(`min_interval`) one stat, a changed sha256 loaded. A new version that does not validate is
refused with one `users_reload_refused` line naming the file and the problem (never a secret),
once per version, and the users in force stay. A file that disappears is a refusal too:
deleting it by mistake must not lock every logger out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from shared.config import ConfigError, Settings, User
from shared.config.users import parse_users, users_from_json
from shared.logs import log_event
from shared.watched_file import Refused, WatchedFile

log = logging.getLogger("zarr_ingress.gateway")


class UsersInForce:
    def __init__(self, settings: Settings, *, min_interval: float = 1.0) -> None:
        self.path = settings.users_file
        self._json = users_from_json(settings.users)
        self._endpoints = tuple(e.name for e in settings.endpoints)
        self._at_start = self._combined(settings.file_users)
        self._file = None if self.path is None else WatchedFile(
            self.path, lambda: self._at_start, self._load, min_interval=min_interval, log=log,
            refused_event="users_reload_refused", hint="the users in force stay until the file is fixed",
            reloaded=self._reloaded)

    @property
    def version(self) -> int:
        """Bumped at each reload: remembered successes of older versions are dropped."""
        return 0 if self._file is None else self._file.version

    def current(self) -> Mapping[str, User]:
        """The users in force after looking at the file (at most every `min_interval` seconds)."""
        return self._at_start if self._file is None else self._file.refresh()

    def _load(self, data: bytes) -> dict[str, User]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("not UTF-8 text") from None
        try:
            file_users = parse_users(f"USERS_FILE {self.path}", text, self._endpoints,
                                     frozenset(u.name for u in self._json))
        except ConfigError as error:
            raise Refused(str(error)) from None
        return self._combined(file_users)

    def _combined(self, file_users: tuple[User, ...]) -> dict[str, User]:
        return {user.name: user for user in (*self._json, *file_users)}

    def _reloaded(self, users: dict[str, User], digest: str) -> None:
        log_event(log, "users_reloaded", file=self.path, users=len(users) - len(self._json), sha256=digest[:12])
