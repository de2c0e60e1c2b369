"""HTTP Basic credentials checked against BASIC_AUTH_USERS_JSON.

A stored secret is either a plaintext password or a werkzeug hash (`pbkdf2:...`, `scrypt:...`).
Plaintext is compared with `hmac.compare_digest`; an unknown user costs the same comparison, so
response time does not tell which user names exist. A werkzeug hash is deliberately slow
(hundreds of milliseconds), far too slow for every upload of a logger, so a successful check is
remembered for the life of the process as an HMAC under a random per-process key: the
password itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping

from werkzeug.security import check_password_hash

WERKZEUG_HASH = re.compile(r"(pbkdf2|scrypt)(:[^$]*)?\$[^$]+\$[0-9a-f]+")
_REMEMBERED_MAX = 4096


class PasswordCheck:
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        self._key = os.urandom(32)
        self._remembered: set[bytes] = set()

    def __call__(self, username: str | None, password: str | None) -> bool:
        if not username or password is None:
            return False
        stored = self._users.get(username)
        if stored is None:
            hmac.compare_digest(password.encode(), b"\0" * 16)
            return False
        if not WERKZEUG_HASH.fullmatch(stored):
            return hmac.compare_digest(password.encode(), stored.encode())
        token = hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()
        if token in self._remembered:
            return True
        if not check_password_hash(stored, password):
            return False
        if len(self._remembered) >= _REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered.add(token)
        return True
