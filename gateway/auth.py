"""HTTP Basic credentials checked against BASIC_AUTH_USERS_JSON.

A stored secret is either a plaintext password or a werkzeug hash (`pbkdf2:...`, `scrypt:...`).
Plaintext is compared with `hmac.compare_digest`. Response time must not tell which user names
exist: when any stored secret is a hash, every refusal that did not already check a hash (an
unknown user, a wrong plaintext password) checks the password against a dummy hash made with the
same method and cost as a stored one, so it costs what a wrong password for a hashed user costs.
A werkzeug hash is deliberately slow
(hundreds of milliseconds), far too slow for every upload of a logger, so a successful check is
remembered for the life of the process as an HMAC under a random per-process key: the
password itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping

from werkzeug.security import check_password_hash, generate_password_hash

WERKZEUG_HASH = re.compile(r"(pbkdf2|scrypt)(:[^$]*)?\$[^$]+\$[0-9a-f]+")
_REMEMBERED_MAX = 4096


class PasswordCheck:
    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        self._key = os.urandom(32)
        self._remembered: set[bytes] = set()
        self._dummy = _dummy_hash(self._users.values())

    def __call__(self, username: str | None, password: str | None) -> bool:
        if not username or password is None:
            return False
        stored = self._users.get(username)
        if stored is None:
            hmac.compare_digest(password.encode(), b"\0" * 16)
            return self._refuse(password)
        if not WERKZEUG_HASH.fullmatch(stored):
            if hmac.compare_digest(password.encode(), stored.encode()):
                return True
            return self._refuse(password)
        token = hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()
        if token in self._remembered:
            return True
        if not check_password_hash(stored, password):
            return False
        if len(self._remembered) >= _REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered.add(token)
        return True

    def _refuse(self, password: str) -> bool:
        if self._dummy is not None:
            check_password_hash(self._dummy, password)  # as slow as a wrong password for a hashed user
        return False


def _dummy_hash(secrets: Iterable[str]) -> str | None:
    """A hash of a random password with the method and cost of the first stored hash, or None."""
    for secret in secrets:
        if WERKZEUG_HASH.fullmatch(secret):
            return generate_password_hash(os.urandom(16).hex(), method=secret.split("$", 1)[0])
    return None
