"""The Flask application: routes, authentication, the checks before 202, error bodies.

    POST {endpoint}               upload into the root node of the endpoint's store
    POST {endpoint}/{node_path}   upload into node `node_path`
    GET  /api/v1/uploads/<id>     queued / done / failed (with the reason)
    operators only (gateway/operators.py): /api/v1/failed, /api/v1/status, an upload's payload,
    retry and purge
    GET  /health  /ready  /metrics  /openapi.json

The order of checks for an upload is: route (404/405), credentials (401), endpoint users (403),
node path, also against the schema (400), a repeated Idempotency-Key (202 replay or 409), room in
the queue and on disk (503), body (413/415/400), syntax and column count (400), columns against
the schema (400), then the durable write and 202. A full disk while writing (ENOSPC, EDQUOT, no
inodes) is a 503 with Retry-After, and nothing is left half-written. No check reads the store.

An upload's status is shown to the user who sent it and to OPERATORS only; to anyone else it
does not exist (404). With PUBLIC_DOCS=false, /metrics and /openapi.json need credentials too.
"""

from __future__ import annotations

import logging
import os
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from gateway.errors import NotFound, Rejected, Unavailable
from gateway.gunicorn_logs import PATH_MAX, USER_ENVIRON_KEY
from gateway.last_uploads import LastUploadRecorder
from gateway.login import Login
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.openapi import build_spec
from gateway.operators import register_operator_api
from gateway.schema_check import SchemaCheck
from gateway.upload import MULTIPART_OVERHEAD
from gateway.upload_route import DISK_LOW_RETRY_AFTER, UploadRoutes, error_body, json_body, rejection, short_reason
from shared.config import ConfigError, Endpoint, Settings, load_settings
from shared.logs import log_event
from shared.plugins import load_extractors
from shared.queue.heartbeat import read_heartbeat
from shared.queue import ACCEPTED, ACTIVE, ID_PATTERN, Queue, Sidecar
from shared.queue.loggers import LoggerBook

log = logging.getLogger("zarr_ingress.gateway")

QUEUE_FULL_RETRY_AFTER = 30


class NodePathConverter(BaseConverter):
    """Everything after the endpoint, slashes included; `check_node_path` decides what is valid."""

    regex = "[\\s\\S]*"  # also newlines (%0A): they must reach check_node_path and get a 400, not a 404
    part_isolating = False


class Capacity:
    """Room in the queue: free disk (and inodes) read fresh per upload, queue depth.

    Free space is never cached: a cached figure lets every upload of the next second pass on
    the space the first one is about to use. Uploads being written by this process are reserved
    against the free space until they are on disk, so concurrent threads cannot all pass on the
    same free bytes either (other processes see what has reached the disk: statvfs is fresh).
    """

    def __init__(self, queue: Queue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
        self._lock = threading.Lock()
        self._reserved = 0

    def check(self, size: int = 0) -> None:
        """503 unless the queue can take `size` more bytes now."""
        with self._lock:
            self._check_disk(size + self._reserved)
        self._check_depth()

    @contextlib.contextmanager
    def reserve(self, size: int) -> Iterator[None]:
        """Hold `size` bytes of the free space while an upload is written; 503 if they are not there."""
        with self._lock:
            self._check_disk(size + self._reserved)
            self._reserved += size
        try:
            yield
        finally:
            with self._lock:
                self._reserved -= size

    def _check_disk(self, wanted: int) -> None:
        space = os.statvfs(self.queue.root)
        free = space.f_bavail * space.f_frsize
        if space.f_files and space.f_favail < 4:  # payload, sidecar, their temporaries
            raise Unavailable(
                f"no free inodes in the queue filesystem ({space.f_favail} left)", DISK_LOW_RETRY_AFTER,
            )
        if free - wanted < self.settings.min_free_bytes:
            raise Unavailable(
                f"disk space low in the queue: {free} bytes free, {wanted} being written, MIN_FREE_BYTES is "
                f"{self.settings.min_free_bytes}", DISK_LOW_RETRY_AFTER,
            )

    def _check_depth(self) -> None:
        depth = self.queue.depth()
        if depth >= self.settings.queue_max_items:
            depth = self.queue.depth(recount=True)  # a refusal never rests on an old count
        if depth >= self.settings.queue_max_items:
            raise Unavailable(
                f"the queue is full: {depth} items waiting, QUEUE_MAX_ITEMS is {self.settings.queue_max_items}",
                QUEUE_FULL_RETRY_AFTER,
            )


def create_app(settings: Settings | None = None) -> Flask:
    """The gateway for `settings` (default: from the environment); raises ConfigError when unusable."""
    settings = settings if settings is not None else load_settings()
    if settings.auth_enabled and not settings.users and not settings.file_users:
        raise ConfigError("BASIC_AUTH_USERS_JSON: no users defined while AUTH_ENABLED is true (nor in a USERS_FILE)")
    # Handlers and LOG_FORMAT are the process's (shared.logs.configure_logging, done by
    # gunicorn_conf.py before the fork); the app only sets its loggers' level.
    logging.getLogger("zarr_ingress").setLevel(settings.log_level)
    for warning in settings.config_warnings:
        log_event(log, "config_warning", logging.WARNING, warning=warning)
    # The gateway never runs an extractor, but it checks them all at start like the worker,
    # so a broken plugin stops the deployment before it takes an upload the worker cannot read.
    load_extractors(settings.endpoints)

    app = Flask("gateway", root_path=str(Path(__file__).parent))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes + MULTIPART_OVERHEAD
    app.url_map.converters["node_path"] = NodePathConverter
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    schemas = SchemaCheck(settings.endpoints)
    try:
        queue = Queue(settings.queue_dir)
    except OSError as error:
        raise ConfigError(f"QUEUE_DIR: cannot use {settings.queue_dir}: {error.strerror}") from None
    capacity = Capacity(queue, settings)
    book = LoggerBook(settings.queue_dir)
    last_uploads = LastUploadRecorder(book)
    metrics = GatewayMetrics(queue, (e.name for e in settings.endpoints), book,
                             {e.name: e.expect_every for e in settings.endpoints if e.expect_every})
    login = Login(settings)
    protected, current_user = login.protected, login.current_user
    app.extensions["zarr_ingress"] = {"settings": settings, "queue": queue, "metrics": metrics}

    # Every POST to an upload route is answered by UploadRoutes before Flask sees it; Flask keeps
    # the rules so that other methods get 405 with Allow: POST like any route of the app.
    routes = UploadRoutes(
        app.wsgi_app, settings, login=login, schemas=schemas, queue=queue, capacity=capacity, metrics=metrics,
        last_uploads=last_uploads, form_limits={
            "max_content_length": app.config["MAX_CONTENT_LENGTH"],
            "max_form_memory_size": app.config["MAX_FORM_MEMORY_SIZE"],
            "max_form_parts": app.config["MAX_FORM_PARTS"],
        },
    )
    app.wsgi_app = routes  # type: ignore[method-assign]

    def upload_view(endpoint: Endpoint):
        def upload(node_path: str = "") -> tuple[Response, int, dict[str, str]]:
            status, headers, body = routes.answer(request.environ, endpoint, node_path)
            return Response(json_body(body), mimetype="application/json"), status, headers

        upload.__name__ = f"upload:{endpoint.name}"
        return upload

    for endpoint in settings.endpoints:
        view = upload_view(endpoint)
        app.add_url_rule(endpoint.route, f"upload:{endpoint.name}", view, methods=["POST"])
        app.add_url_rule(f"{endpoint.route}/<node_path:node_path>", f"upload:{endpoint.name}:node", view, methods=["POST"])

    def may_read(sidecar: Sidecar) -> bool:
        if not settings.auth_enabled:
            return True
        user = current_user()
        return user == sidecar.username or login.is_operator(user)

    @app.get("/api/v1/uploads/<upload_id>")
    @protected
    def upload_status(upload_id: str) -> Response:
        item = queue.find(upload_id) if ID_PATTERN.fullmatch(upload_id) else None
        # Someone else's upload answers exactly like an unknown id: ids are not secrets, errors are.
        if item is None or not may_read(item.sidecar):
            raise NotFound(f"no upload with id {upload_id!r} (unknown, purged after its retention, or not yours)")
        sidecar = item.sidecar
        state = "queued" if item.state in (ACCEPTED, ACTIVE) else item.state
        body: dict[str, Any] = {
            "id": sidecar.id, "state": state, "endpoint": sidecar.endpoint, "node_path": sidecar.node_path,
            "received_at": sidecar.received_at, "size": sidecar.size, "sha256": sidecar.sha256,
            "attempts": sidecar.attempts, "ignored_columns": sidecar.ignored_columns or [],
        }
        if item.state == "done":
            body.update(merged_at=sidecar.merged_at, rows=sidecar.rows, batch=sidecar.batch)
        if item.state == "failed":
            body.update(error=sidecar.error, failed_at=sidecar.failed_at)
            if not settings.production:
                body["traceback"] = sidecar.traceback
        return jsonify(body)

    register_operator_api(app, settings, queue, protected, current_user, login.is_operator)

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    def worker_state() -> dict[str, Any]:
        # Informational: uploads are still accepted durably while no worker runs, so a missing
        # worker does not make the gateway unready; operators and probes can read it here.
        beat = read_heartbeat(queue.root)
        if beat is None:
            return {"alive": False, "heartbeat_age_seconds": None}
        return {"alive": beat.is_alive(), "heartbeat_age_seconds": round(beat.age_seconds(), 1), "pid": beat.pid}

    @app.get("/ready")
    def ready() -> tuple[Response, int, dict[str, str]]:
        problems = []
        if not os.access(queue.tmp, os.W_OK):
            problems.append(f"queue directory {queue.root} is not writable")
        free = queue.free_bytes()
        if free < settings.min_free_bytes:
            problems.append(f"{free} bytes free, MIN_FREE_BYTES is {settings.min_free_bytes}")
        depth = queue.depth()
        if depth >= settings.queue_max_items:
            depth = queue.depth(recount=True)
        if depth >= settings.queue_max_items:
            problems.append(f"queue holds {depth} items, QUEUE_MAX_ITEMS is {settings.queue_max_items}")
        problem = _write_probe(queue) if not problems else None
        if problem:
            problems.append(problem)
        body = {"status": "not ready" if problems else "ready", "queue_depth": depth, "free_bytes": free,
                "worker": worker_state()}
        if problems:
            body["problems"] = problems
            return jsonify(body), 503, {"Retry-After": str(QUEUE_FULL_RETRY_AFTER)}
        return jsonify(body), 200, {}

    spec = build_spec(settings.endpoints, public_docs=settings.public_docs)

    def docs(view):
        return view if settings.public_docs else protected(view)

    @app.get("/openapi.json")
    @docs
    def openapi() -> Response:
        return jsonify(spec)

    @app.get("/metrics")
    @docs
    def metrics_page() -> Response:
        return Response(metrics.render(), mimetype=None, content_type=CONTENT_TYPE)

    @app.errorhandler(Rejected)
    def rejected(error: Rejected) -> Response:
        status, headers, body = rejection(settings, error)
        g.rejection_reason = error.message  # the "rejected" log line says why, in the body's words
        return Response(json_body(body), status=status, headers=headers, mimetype="application/json")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        message = error.description or error.name
        if error.code == 413:
            message = f"body is over the limit of {settings.max_upload_bytes} bytes"
        # Routing and size refusals are explained by their message; a stack trace adds nothing.
        response = _error_response(settings, error.code or 500, message)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log_event(log, "internal_error", logging.ERROR, exc_info=True, method=request.method,
                  path=request.path[:PATH_MAX])
        return _error_response(settings, 500, "internal error; the upload was not accepted", error)

    @app.after_request
    def count(response: Response) -> Response:
        if request.url_rule is not None and request.url_rule.endpoint.startswith("upload:"):
            return response  # counted and logged by UploadRoutes
        name = None
        if request.method == "POST":
            metrics.count_upload("unknown", response.status_code)
        user = current_user()
        if user is not None:
            request.environ[USER_ENVIRON_KEY] = user  # for gunicorn's access line (gateway/gunicorn_logs.py)
        if response.status_code >= 400:
            level = logging.WARNING if response.status_code >= 500 else logging.INFO  # 4xx: the client's to fix
            log_event(log, "rejected", level, status=response.status_code, endpoint=name, user=user,
                      method=request.method, path=request.path[:PATH_MAX],
                      reason=short_reason(g.get("rejection_reason")))
        return response

    return app


def _write_probe(queue: Queue) -> str | None:
    """Why the queue cannot take an upload right now (a small synced write in tmp/ fails), or None."""
    probe = queue.tmp / f".ready-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(b"ready\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        return f"cannot write into the queue directory {queue.root}: {error.strerror}"
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def _error_response(
    settings: Settings, status: int, message: str, cause: BaseException | None = None, **fields: Any
) -> Response:
    """The error body of gateway/upload_route.py's `error_body` as a Flask response."""
    g.rejection_reason = message  # the "rejected" log line says why, in the body's words
    return Response(json_body(error_body(settings, message, cause, **fields)), status=status,
                    mimetype="application/json")
