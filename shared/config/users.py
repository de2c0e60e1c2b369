"""Who may log in: BASIC_AUTH_USERS_JSON and the users file (USERS_FILE), validated into `User`s.

The users file is YAML::

    users:
      - name: station-12
        key_hash: "scrypt:32768:8:1$..."     # werkzeug hash of the API key "station-12.<secret>"
        endpoints: [tree]                     # optional: the endpoints (by name) it may upload to
      - name: alice
        password: "pbkdf2:sha256:600000$..."  # plaintext or a werkzeug hash
        operator: true                        # optional: like OPERATORS

Every error names `users[i] (name).key` and never shows a secret. A name given both in
BASIC_AUTH_USERS_JSON and in the file is an error, not a precedence rule: two passwords for
one name would make "which one is in force" a question an operator must not have to ask.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.config.errors import ConfigError, check_keys

USER_KEYS = ("name", "password", "key_hash", "endpoints", "operator")
# No ':' (Basic splits on it), no whitespace or control characters (they end up in log lines).
USER_NAME = re.compile(r"[^\s:\x00-\x1f\x7f]{1,128}")
WERKZEUG_HASH = re.compile(r"(pbkdf2|scrypt)(:[^$]*)?\$[^$]+\$[0-9a-f]+")


@dataclass(frozen=True)
class User:
    name: str
    password: str | None = field(default=None, repr=False)  # plaintext or werkzeug hash
    key_hash: str | None = field(default=None, repr=False)  # werkzeug hash of the whole API key
    endpoints: tuple[str, ...] | None = None  # None: every endpoint (that the endpoints file allows)
    operator: bool = False

    def may_upload_to(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints


def users_from_json(users: Mapping[str, str]) -> tuple[User, ...]:
    """The users of BASIC_AUTH_USERS_JSON (already checked by the settings reader)."""
    return tuple(User(name, password=secret) for name, secret in users.items())


def read_users_file(path: Path, endpoint_names: Iterable[str], json_users: Iterable[str] = ()) -> tuple[User, ...]:
    """The users of the file at `path`; ConfigError naming the file and `users[i] (name).key`."""
    where = f"USERS_FILE {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read it ({getattr(error, 'strerror', None) or error})") from None
    return parse_users(where, text, tuple(endpoint_names), frozenset(json_users))


def parse_users(where: str, text: str, endpoint_names: tuple[str, ...], json_users: frozenset[str]) -> tuple[User, ...]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""  # the position only: lines hold secrets
        raise ConfigError(f"{where}:{line} not valid YAML") from None
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise ConfigError(f"{where}: expected a mapping with users: (a list of entries with name, password and/or key_hash)")
    check_keys(f"{where}: ", document, ("users",))
    users: list[User] = []
    for index, raw in enumerate(document["users"]):
        user = _user(f"{where}: users[{index}]", raw, endpoint_names)
        at = f"{where}: users[{index}] ({user.name}).name"
        if any(other.name == user.name for other in users):
            raise ConfigError(f"{at}: given twice in the file: keep one entry per name")
        if user.name in json_users:
            raise ConfigError(f"{at}: also in BASIC_AUTH_USERS_JSON: a name may be in one of the two only")
        users.append(user)
    return tuple(users)


def _user(at: str, raw: Any, endpoint_names: tuple[str, ...]) -> User:
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: expected a mapping with keys {', '.join(USER_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise ConfigError(f"{at}.name: missing or not a user name (1 to 128 characters, no ':' or whitespace)")
    at = f"{at} ({name})"
    check_keys(f"{at}.", raw, USER_KEYS)
    password, key_hash = raw.get("password"), raw.get("key_hash")
    if password is None and key_hash is None:
        raise ConfigError(f"{at}: needs a password or a key_hash (or both)")
    if password is not None and (not isinstance(password, str) or not password):
        raise ConfigError(f"{at}.password: expected a non-empty string (plaintext or a werkzeug hash)")
    if key_hash is not None and (not isinstance(key_hash, str) or not WERKZEUG_HASH.fullmatch(key_hash)):
        raise ConfigError(f"{at}.key_hash: not a werkzeug hash (make one with: zarr-ingress users new-key {name})")
    endpoints = raw.get("endpoints")
    if endpoints is not None:
        if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
            raise ConfigError(f"{at}.endpoints: expected a list of endpoint names")
        for endpoint in endpoints:
            if endpoint not in endpoint_names:
                close = difflib.get_close_matches(endpoint, endpoint_names, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(f"{at}.endpoints: {endpoint!r} is not an endpoint of the endpoints file "
                                  f"({hint}endpoints: {', '.join(endpoint_names)})")
        endpoints = tuple(endpoints)
    operator = raw.get("operator", False)
    if not isinstance(operator, bool):
        raise ConfigError(f"{at}.operator: expected true or false, got {operator!r}")
    return User(name, password=password, key_hash=key_hash, endpoints=endpoints, operator=operator)
