"""The upload routes, answered straight from the WSGI environ: the path that every logger takes.

    POST {endpoint}               upload into the root node of the endpoint's store
    POST {endpoint}/{node_path}   upload into node `node_path`

`UploadRoutes` sits in front of the Flask app (gateway/app.py) and answers every POST to an
endpoint's route itself; everything else (other methods, other paths) goes on to Flask. Flask's
request machinery (request context, URL matching, Response objects, after-request hooks) cost
about a third of the gateway's Python per upload (py-spy under wrk, issue 11), for a route that
needs none of it. What the upload path does is exactly what the Flask view did: the same checks
in the same order (gateway/app.py's docstring), the same bodies, headers, metrics and log lines.

A rejection is answered by `rejection`, which Flask's error handler uses too, so both kinds of
route say no in the same words.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import traceback
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request as WerkzeugRequest

from gateway.errors import BadUpload, Conflict, Forbidden, Rejected, TooManyLogins, Unavailable
from gateway.gunicorn_logs import PATH_MAX, USER_ENVIRON_KEY
from gateway.login import CHALLENGE, NotLoggedIn
from gateway.upload import RAW, check_node_path, read_upload
from shared.binary import BINARY_FORMATS, check_magic
from shared.config import Endpoint, Settings
from shared.formats import NotAnUplink, ParseError, Sniffed, check_event, resolve, sniff
from shared.logs import log_event
from shared.queue import Sidecar

log = logging.getLogger("zarr_ingress.gateway")

REASON_MAX = 300  # characters of a rejection's reason in a log line
IDEMPOTENCY_KEY_MAX = 255
DISK_LOW_RETRY_AFTER = 60
# Errors of a write that mean "no room": the client should come back later, not see a 500.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_STATUS_LINES = {202: "202 Accepted", 400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden",
                 404: "404 Not Found", 409: "409 Conflict", 413: "413 Request Entity Too Large",
                 415: "415 Unsupported Media Type", 429: "429 Too Many Requests", 500: "500 Internal Server Error",
                 503: "503 Service Unavailable"}

Answer = tuple[int, dict[str, str], dict[str, Any]]  # status, headers, JSON body
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def json_body(body: dict[str, Any]) -> bytes:
    """A JSON body as Flask's jsonify writes it (sorted keys, compact, ASCII, a final newline)."""
    return (json.dumps(body, ensure_ascii=True, sort_keys=True, separators=(",", ":")) + "\n").encode()


def error_body(settings: Settings, message: str, cause: BaseException | None = None, **fields: Any) -> dict[str, Any]:
    """The error body; `trace` (not in PRODUCTION) holds a stack trace only of an exception that
    explains the error (an internal error, a failed disk write), else null."""
    body: dict[str, Any] = {"error": message, **fields}
    if not settings.production:
        body["trace"] = "".join(traceback.format_exception(cause)) if cause is not None else None
    return body


def rejection(settings: Settings, error: Rejected) -> Answer:
    """Status, headers and body of a rejection, for the upload routes and Flask's alike."""
    fields: dict[str, Any] = {"id": error.original_id} if isinstance(error, Conflict) else {}
    headers: dict[str, str] = {}
    if isinstance(error, TooManyLogins):
        fields["retry_after"] = error.retry_after
    if isinstance(error, (Unavailable, TooManyLogins)):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, NotLoggedIn):
        headers["WWW-Authenticate"] = CHALLENGE
    if isinstance(error, Conflict):
        headers["Location"] = f"/api/v1/uploads/{error.original_id}"
    return error.status, headers, error_body(settings, error.message, error.cause, **fields)


def short_reason(message: str | None) -> str | None:
    """The error body's message for a log line, cut to REASON_MAX characters."""
    if message is None or len(message) <= REASON_MAX:
        return message
    return message[:REASON_MAX] + "..."


def request_path(environ: dict[str, Any]) -> str:
    """The request's path as text: WSGI carries it as latin-1 of its bytes, which are UTF-8."""
    return (environ.get("PATH_INFO") or "").encode("latin-1").decode("utf-8", "replace")


class UploadRequest:
    """What the upload checks read of a request, from its WSGI environ: the interface of
    `flask.Request` that gateway/upload.py uses, without a request context."""

    def __init__(self, environ: dict[str, Any], form_limits: dict[str, int | None], path: str) -> None:
        self.environ = environ
        self.headers = EnvironHeaders(environ)
        content_type = environ.get("CONTENT_TYPE") or ""
        self.mimetype = content_type.partition(";")[0].strip().lower()
        declared = environ.get("CONTENT_LENGTH") or ""
        self.content_length = int(declared) if declared.isdigit() else None
        self.stream = environ["wsgi.input"]
        self.remote_addr: str | None = environ.get("REMOTE_ADDR")
        self.path = path  # decoded (UTF-8) as the router saw it
        self._form_limits = form_limits

    @property
    def files(self):
        """The multipart form's files, parsed with the limits Flask would apply (rare: loggers
        post raw bodies)."""
        request = WerkzeugRequest(self.environ)
        for name, value in self._form_limits.items():
            setattr(request, name, value)
        return request.files

    def arg(self, name: str) -> str | None:
        query = self.environ.get("QUERY_STRING")
        if not query:
            return None
        return next((value for key, value in parse_qsl(query, keep_blank_values=True) if key == name), None)


class UploadRoutes:
    """WSGI middleware: POSTs to an endpoint's route are answered here, the rest by `app`."""

    def __init__(self, app: WSGIApp, settings: Settings, *, login, schemas, queue, capacity, metrics,
                 last_uploads, form_limits: dict[str, int | None]) -> None:
        self.app = app
        self.settings = settings
        self.login = login
        self.schemas = schemas
        self.queue = queue
        self.capacity = capacity
        self.metrics = metrics
        self.last_uploads = last_uploads
        self.form_limits = form_limits
        # Longest route first: a route below another endpoint's route is that endpoint's.
        self.routes = sorted(((e.route, e) for e in settings.endpoints), key=lambda pair: -len(pair[0]))

    def route(self, path: str) -> tuple[Endpoint, str] | None:
        """The endpoint and raw node path of an upload URL path, or None."""
        for route, endpoint in self.routes:
            if path == route:
                return endpoint, ""
            if path.startswith(route) and path[len(route)] == "/":
                return endpoint, path[len(route) + 1:]
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        path = request_path(environ)
        found = self.route(path)
        if found is None:
            return self.app(environ, start_response)
        status, headers, body = self.answer(environ, *found, path=path)
        data = json_body(body)
        start_response(_STATUS_LINES.get(status) or str(status), [
            ("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers.items(),
        ])
        return [data]

    def answer(self, environ: dict[str, Any], endpoint: Endpoint, raw_node_path: str, *,
               path: str | None = None) -> Answer:
        """The answer to an upload, counted and (when it is a refusal) logged with its reason."""
        request = UploadRequest(environ, self.form_limits, path if path is not None else request_path(environ))
        reason = None
        try:
            status, headers, body = self.upload(request, endpoint, raw_node_path)
        except Rejected as error:
            status, headers, body = rejection(self.settings, error)
            reason = error.message
        except HTTPException as error:  # the multipart parser's own refusals
            message = error.description or error.name
            if error.code == 413:
                message = f"body is over the limit of {self.settings.max_upload_bytes} bytes"
            status, headers, body = error.code or 500, {}, error_body(self.settings, message)
            reason = message
        except Exception as error:
            log_event(log, "internal_error", logging.ERROR, exc_info=True, method="POST", path=request.path[:PATH_MAX])
            reason = "internal error; the upload was not accepted"
            status, headers, body = 500, {}, error_body(self.settings, reason, error)
        self.metrics.count_upload(endpoint.name, status)
        if status >= 400:
            level = logging.WARNING if status >= 500 else logging.INFO  # 4xx: the client's to fix
            log_event(log, "rejected", level, status=status, endpoint=endpoint.name,
                      user=environ.get(USER_ENVIRON_KEY), method="POST", path=request.path[:PATH_MAX],
                      reason=short_reason(reason))
        return status, headers, body

    def upload(self, request: UploadRequest, endpoint: Endpoint, raw_node_path: str) -> Answer:
        """The checks before 202 (see gateway/app.py), the durable write, and the 202."""
        settings, queue = self.settings, self.queue
        user = None
        if settings.auth_enabled:
            account = self.login.log_in(request.headers.get("Authorization"), request.headers.get("X-API-Key"),
                                        request.remote_addr, request.headers.get("X-Forwarded-For"),
                                        campbell=endpoint.campbell_basic)
            user = account.name
            request.environ[USER_ENVIRON_KEY] = user  # for gunicorn's access line and the rejection's
            if endpoint.users is not None and user not in endpoint.users:
                raise Forbidden(f"user {user!r} may not upload to {endpoint.route} (not in the endpoint's users)")
            if not account.may_upload_to(endpoint.name):
                raise Forbidden(f"user {user!r} may not upload to {endpoint.route} (its endpoints in USERS_FILE: "
                                f"{', '.join(account.endpoints or ())})")
        node_path = endpoint.node_path(check_node_path(raw_node_path))  # below its target_node
        node = self.schemas.node(endpoint.name, node_path)
        idempotency_key = _idempotency_key(request.headers.get("Idempotency-Key"))
        # A resend of a key already accepted gets its original id, even when the queue is full;
        # the same key with another body is a conflict, never a silent drop of the new data.
        original = queue.replayed(endpoint.name, user, idempotency_key, node_path) if idempotency_key else None
        if original is not None:
            return replayed_answer(original, read_upload(request, settings.max_upload_bytes, endpoint).payload)
        self.capacity.check()
        upload = read_upload(request, settings.max_upload_bytes, endpoint)
        fmt = upload.format
        sniffed: Sniffed | None = None  # binary and extractor uploads: rows unknown here
        try:
            ignored: list[str] = []
            if fmt in BINARY_FORMATS:
                check_magic(upload.payload, fmt)  # variables are checked by the worker
            elif fmt != RAW:  # an extractor endpoint: only size and encoding are ours
                fmt = resolve(upload.payload, fmt, endpoint.format, upload.content_type)
                check_event(fmt, request.arg("event"))
                sniffed = sniff(upload.payload, fmt, settings.max_columns)
                ignored = self.schemas.columns(node, sniffed.columns, endpoint.extra_columns)
        except NotAnUplink as event:
            # A network server's join/ack/status event: acknowledged, so it is not retried.
            log_event(log, "ignored", endpoint=endpoint.name, user=user, status=202, reason=str(event))
            return 202, {}, {"status": "ignored", "reason": str(event)}
        except ParseError as error:
            message = str(error) if fmt in BINARY_FORMATS else f"{fmt.upper()} upload rejected: {error}"
            raise BadUpload(message) from None
        try:
            with self.capacity.reserve(len(upload.payload)):
                sidecar = queue.enqueue(
                    endpoint.name, upload.payload, format=fmt, node_path=node_path,
                    schema_path=str(endpoint.schema_path), content_type=upload.content_type,
                    filename=upload.filename, username=user, remote_addr=request.remote_addr,
                    idempotency_key=idempotency_key, ignored_columns=ignored or None,
                )
        except OSError as error:
            if error.errno not in DISK_FULL_ERRNOS:
                raise
            log_event(log, "queue_write_failed", logging.WARNING, endpoint=endpoint.name, error=error.strerror)
            raise Unavailable(
                f"the queue's disk is full ({error.strerror}); the upload was not accepted, send it again later",
                DISK_LOW_RETRY_AFTER, cause=error,
            ) from None
        if sidecar.replayed:  # a concurrent repeat got the key first
            return replayed_answer(sidecar, upload.payload)
        # A webhook's device is the logger (one network server posts for many devices).
        logger = sniffed.device if sniffed is not None and sniffed.device else user
        self.last_uploads.record(endpoint.name, logger, sniffed.rows if sniffed is not None else None)
        if ignored:
            self.metrics.count_ignored_columns(endpoint.name, len(ignored))
        return accepted_answer(sidecar, len(upload.payload))


def accepted_answer(sidecar: Sidecar, size: int) -> Answer:
    """202 for a queued upload (or for a resend of its Idempotency-Key), and its one log line."""
    event = "duplicate" if sidecar.replayed else "accepted"
    log_event(log, event, upload_id=sidecar.id, endpoint=sidecar.endpoint, node_path=sidecar.node_path or "/",
              user=sidecar.username, status=202, bytes=size or sidecar.size, format=sidecar.format)
    body = {"status": "accepted", "id": sidecar.id, "endpoint": sidecar.endpoint, "node_path": sidecar.node_path}
    headers = {"Location": f"/api/v1/uploads/{sidecar.id}"}
    if sidecar.replayed:
        headers["Idempotent-Replayed"] = "true"
    return 202, headers, body


def replayed_answer(original: Sidecar, payload: bytes) -> Answer:
    """202 with the original id for a resend of the same body under a key; 409 for another body."""
    if hashlib.sha256(payload).hexdigest() != original.sha256:
        raise Conflict(
            f"Idempotency-Key {original.idempotency_key!r} was already used for upload {original.id} with a "
            f"different body (sha256 {original.sha256}); the new data was not accepted: send it under a new key",
            original.id,
        )
    return accepted_answer(original, 0)


def _idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise BadUpload(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters")
    return key
