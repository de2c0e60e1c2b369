"""Logging a request in: which routes, which client, which user.

`protected(view)` puts the logged-in `User` on `flask.g` before a Flask view runs, or answers 401
(no or wrong credentials, with WWW-Authenticate naming the accepted forms) or 429 (too many
failed logins, with Retry-After); the upload routes (gateway/upload_route.py), which run without
Flask, call `log_in` with the headers. Campbell's Basic form is read only where `campbell=True`
(the upload routes of endpoints with `campbell_basic: true`).

The client address that failed logins are counted against is the peer's, or, when the peer is
one of TRUSTED_PROXIES, the last address in X-Forwarded-For that is not a trusted proxy (what
the nearest untrusted hop told the first trusted one; anything further left may be forged).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any

from flask import g, request

from gateway.auth import Authenticator, LoginRefused
from gateway.auth_headers import ACCEPTED_FORMS, BadCredentials, presented
from gateway.errors import Rejected, TooManyLogins
from gateway.login_limit import FailedLogins
from gateway.users_file import UsersInForce
from shared.config import Settings, User

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
CHALLENGE = 'Basic realm="zarr-fuse ingress", Bearer realm="zarr-fuse ingress"'


class NotLoggedIn(Rejected):
    """401, answered with WWW-Authenticate."""

    status = 401


class Login:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.users = UsersInForce(settings)
        failures = FailedLogins(str(settings.queue_dir), max_failures=settings.login_failures_max,
                                window=settings.login_failures_window)
        self._authenticator = Authenticator(self.users, failures)

    def protected(self, view: Callable[..., Any], *, campbell: bool = False) -> Callable[..., Any]:
        if not self.settings.auth_enabled:
            return view

        @functools.wraps(view)
        def logged_in(*args: Any, **kwargs: Any) -> Any:
            g.user = self._log_in(campbell)
            return view(*args, **kwargs)

        return logged_in

    def current_user(self) -> str | None:
        user: User | None = g.get("user")
        return user.name if user is not None else None

    def current(self) -> User | None:
        return g.get("user")

    def is_operator(self, name: str | None) -> bool:
        if name is None:
            return False
        user = self.users.current().get(name)
        return name in self.settings.operators or (user is not None and user.operator)

    def _log_in(self, campbell: bool) -> User:
        return self.log_in(request.headers.get("Authorization"), request.headers.get("X-API-Key"),
                           request.remote_addr, request.headers.get("X-Forwarded-For"), campbell=campbell)

    def log_in(self, authorization: str | None, api_key: str | None, peer: str | None,
               forwarded_for: str | None, *, campbell: bool = False) -> User:
        """The user a request's credential headers log in as; NotLoggedIn (401) or TooManyLogins (429)."""
        try:
            credentials = presented(authorization, api_key, campbell=campbell)
        except BadCredentials as error:
            raise NotLoggedIn(str(error)) from None
        if credentials is None:
            raise NotLoggedIn(f"authentication required: send {ACCEPTED_FORMS}")
        address = client_address(peer, forwarded_for, self.settings.trusted_proxies)
        try:
            return self._authenticator.check(credentials, address)
        except LoginRefused as refused:
            if refused.retry_after is not None:
                raise TooManyLogins(str(refused), refused.retry_after) from None
            raise NotLoggedIn(str(refused)) from None


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address failed logins count against (see the module text)."""
    address = peer or "-"
    if not trusted or not forwarded_for or not _in(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if not _in(hop, trusted):
            return hop if _parsed(hop) is not None else address  # garbage: the trusted peer's own
        address = hop
    return address


def _in(address: str, networks: Sequence[Network]) -> bool:
    parsed = _parsed(address)
    return parsed is not None and any(parsed in network for network in networks)


def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None
