"""The credentials a request presents: HTTP Basic, Campbell's Basic form, or an API key.

    Authorization: Basic base64(user:password)              every route
    Authorization: Basic base64(user):base64(password)      Campbell's HTTPPost; endpoints with
                                                            `campbell_basic: true` only
    Authorization: Bearer <name>.<secret>                   an API key
    X-API-Key: <name>.<secret>                              the same key in its own header

The two Basic forms cannot be confused: base64 has no ':', so a ':' in the token is Campbell's.
An API key starts with its user's name, so checking it costs one hash check of that user's
`key_hash`, not one per key in the users file (the secret part is url-safe base64: no '.').
Nothing here ever puts a presented secret into a message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

PASSWORD = "password"
KEY = "key"
ACCEPTED_FORMS = ("Authorization: Basic base64(user:password), Authorization: Bearer <name>.<secret> "
                  "or X-API-Key: <name>.<secret>")
TOKEN_MAX = 4096  # characters of a credential header: far above any real one


class BadCredentials(Exception):
    """Credentials in a form the gateway does not read here; `str()` says which form to send."""


@dataclass(frozen=True)
class Presented:
    kind: str  # PASSWORD or KEY
    name: str  # the user name (of a key: the part before its last '.')
    secret: str = field(repr=False)  # the password, or the whole key


def presented(authorization: str | None, api_key: str | None, *, campbell: bool) -> Presented | None:
    """The credentials of a request's headers, None without any; BadCredentials when unreadable."""
    if authorization is not None and api_key is not None:
        raise BadCredentials("send credentials in one header: Authorization or X-API-Key, not both")
    if api_key is not None:
        return _key(api_key.strip(), "X-API-Key")
    if authorization is None:
        return None
    if len(authorization) > TOKEN_MAX:
        raise BadCredentials(f"Authorization header is over {TOKEN_MAX} characters; send {ACCEPTED_FORMS}")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer":
        return _key(token, "Authorization: Bearer")
    if scheme.lower() != "basic":
        raise BadCredentials(f"Authorization scheme not accepted; send {ACCEPTED_FORMS}")
    if ":" in token:
        if not campbell:
            raise BadCredentials(
                "Campbell's form Basic base64(user):base64(password) is accepted only on endpoints with "
                "campbell_basic: true in the endpoints file; send Basic base64(user:password)"
            )
        user, _, password = token.partition(":")
        return _password(_decoded(user), _decoded(password))
    name, colon, password = _decoded(token).partition(":")
    if not colon:
        raise BadCredentials("Authorization: Basic must be base64 of user:password (no ':' found)")
    return _password(name, password)


def _password(name: str, password: str) -> Presented:
    if not name:
        raise BadCredentials("Authorization: Basic has an empty user name")
    return Presented(PASSWORD, name, password)


def _key(key: str, header: str) -> Presented:
    name, dot, secret = key.rpartition(".")
    if len(key) > TOKEN_MAX or not key.isascii() or not key.isprintable() or not dot or not name or not secret:
        raise BadCredentials(f"{header}: an API key looks like <name>.<secret> (its user's name, a dot, the secret)")
    return Presented(KEY, name, key)


def _decoded(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        raise BadCredentials("Authorization: Basic credentials are not valid base64 of UTF-8 text") from None
