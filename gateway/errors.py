"""Why the gateway turns a request away; each class carries its HTTP status.

    Rejected                 (status)  base class; body {"error": ..., "trace": ...}
     +-- BadUpload             400  empty body, missing `file` field, unparseable CSV/JSON,
     |                              bad node path, columns the schema does not know
     +-- Unauthorized          401  no or wrong credentials (answered with WWW-Authenticate: Basic)
     +-- Forbidden             403  user not allowed on this endpoint
     +-- NotFound              404  unknown upload id, or one of another user
     +-- Conflict              409  Idempotency-Key already used with another body (names the original id)
     +-- TooLarge              413  body, or gzip-inflated body, over MAX_UPLOAD_BYTES
     +-- UnsupportedType       415  content type or content encoding the gateway cannot read
     +-- TooManyLogins         429  too many failed logins from the address or for the name (Retry-After)
     +-- Unavailable           503  queue full, disk low or full (answered with Retry-After)

`cause` is the exception that explains a rejection (a failed disk write), if any: only then
does the error body's `trace` show a stack trace.

Routing errors (unknown route 404, wrong method 405) come from werkzeug and get the same body.
Nothing here is about the data's meaning: that is the worker's business (shared/fuse errors).
"""

from __future__ import annotations


class Rejected(Exception):
    status = 500

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


class BadUpload(Rejected):
    status = 400


class Unauthorized(Rejected):
    status = 401


class Forbidden(Rejected):
    status = 403


class NotFound(Rejected):
    status = 404


class Conflict(Rejected):
    status = 409

    def __init__(self, message: str, original_id: str) -> None:
        super().__init__(message)
        self.original_id = original_id


class TooLarge(Rejected):
    status = 413


class UnsupportedType(Rejected):
    status = 415


class TooManyLogins(Rejected):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(Rejected):
    status = 503

    def __init__(self, message: str, retry_after: int, cause: BaseException | None = None) -> None:
        super().__init__(message, cause)
        self.retry_after = retry_after
