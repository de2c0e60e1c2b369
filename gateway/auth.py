"""Checking presented credentials (gateway/auth_headers.py) against the users in force.

A stored password is plaintext or a werkzeug hash (`pbkdf2:...`, `scrypt:...`); an API key is
stored only as a werkzeug hash (`key_hash`). Plaintext is compared with `hmac.compare_digest`.
Response time must not tell which user names exist: when any stored secret is a hash, every
refusal that did not already check a hash (an unknown user, a wrong plaintext password, a user
without a key) checks the secret against a dummy hash made with the same method and cost as a
stored one, so it costs what a wrong secret for a hashed user costs.

A werkzeug hash is deliberately slow (tens to hundreds of milliseconds), far too slow for every
upload of a logger, so a successful check is remembered for the life of the process as an HMAC
(under the gateway's memory-only key) of the user, its stored secret and the presented secret:
the secret itself is never stored, and a changed password or key in the users file no longer
matches. An upload of a remembered credential costs one HMAC and touches no file.

Anything else first asks the shared failure counts (gateway/login_limit.py): while the client
address or the user name is blocked, only credentials that already succeeded in some process
pass; the rest get 429 unchecked.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta, timezone
import os
from collections.abc import Iterable

from werkzeug.security import check_password_hash, generate_password_hash

from gateway.auth_headers import KEY, Presented
from gateway.login_limit import FailedLogins
from gateway.users_file import UsersInForce
from shared.config import User
from shared.config.users import WERKZEUG_HASH
from shared.logs import log_event

log = logging.getLogger("zarr_ingress.gateway")
_REMEMBERED_MAX = 4096


class LoginRefused(Exception):
    """401 (`retry_after` None) or 429 (`retry_after` seconds); `str()` says what to do."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Authenticator:
    def __init__(self, users: UsersInForce, failures: FailedLogins) -> None:
        self._users = users
        self._failures = failures
        self._remembered: set[str] = set()
        self._version = -1
        self._dummies: dict[str, str] = {}

    def check(self, credentials: Presented, address: str) -> User:
        """The user `credentials` log in as; LoginRefused (401 or 429) otherwise."""
        users = self._users.current()
        if self._version != self._users.version:  # a reloaded users file: nothing remembered holds
            self._remembered.clear()
            self._version = self._users.version
        user = users.get(credentials.name)
        stored = None if user is None else (user.key_hash if credentials.kind == KEY else user.password)
        token = None if stored is None else self._failures.token(credentials.kind, credentials.name, stored,
                                                                 credentials.secret)
        if token is not None and token in self._remembered:
            return user  # type: ignore[return-value]  # token is set only with a user
        wait, known = self._failures.attempt(address, credentials.name, token)
        if known:
            self._remember(token)  # type: ignore[arg-type]
            return user  # type: ignore[return-value]
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            log_event(log, "login_blocked", addr=address, user=_shown(user), retry_after=seconds)
            at = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
            raise LoginRefused(
                f"too many failed logins from this address or for this user name: retry in {seconds} seconds "
                f"(at {at}); this request's credentials were not checked", seconds,
            )
        if stored is not None and self._matches(stored, credentials.secret, users.values()):
            self._remember(token)  # type: ignore[arg-type]
            self._failures.succeeded(address, credentials.name, token)  # type: ignore[arg-type]
            return user  # type: ignore[return-value]
        if stored is None:
            self._dummy_check(credentials.secret, users.values())
        log_event(log, "login_failed", addr=address, user=_shown(user), kind=credentials.kind)
        if credentials.kind == KEY:
            raise LoginRefused("unknown API key: send Authorization: Bearer <name>.<secret> or X-API-Key: "
                               "<name>.<secret> with a key whose hash is in the users file")
        raise LoginRefused("wrong user name or password")

    def _matches(self, stored: str, secret: str, users: Iterable[User]) -> bool:
        if WERKZEUG_HASH.fullmatch(stored):
            return check_password_hash(stored, secret)
        if hmac.compare_digest(secret.encode("utf-8", "surrogatepass"), stored.encode("utf-8", "surrogatepass")):
            return True
        self._dummy_check(secret, users)
        return False

    def _remember(self, token: str) -> None:
        if len(self._remembered) >= _REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered.add(token)

    def _dummy_check(self, secret: str, users: Iterable[User]) -> None:
        method = _first_hash_method(users)
        if method is None:
            return
        if method not in self._dummies:
            self._dummies[method] = generate_password_hash(os.urandom(16).hex(), method=method)
        check_password_hash(self._dummies[method], secret)  # as slow as a wrong secret for a hashed user


def _first_hash_method(users: Iterable[User]) -> str | None:
    """The method and cost (`pbkdf2:sha256:600000`) of the first stored hash, or None."""
    for user in users:
        for secret in (user.password, user.key_hash):
            if secret and WERKZEUG_HASH.fullmatch(secret):
                return secret.split("$", 1)[0]
    return None


def _shown(user: User | None) -> str:
    """The user name a log line may show: only a configured one (what was typed may be a password)."""
    return user.name if user is not None else "<unknown>"
