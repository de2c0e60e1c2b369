"""The operators' HTTP API: the failed queue and the health of merging, without a shell on the host.

    GET    /api/v1/failed?endpoint=&limit=     failed uploads: id, endpoint, error, attempts, failed_at
    GET    /api/v1/uploads/<id>/payload        the stored body of an upload, byte for byte
    PUT    /api/v1/uploads/<id>/payload        a failed upload's corrected body (as `queue replace`)
    POST   /api/v1/uploads/<id>/retry          a failed upload back to the queue, in its original order
    DELETE /api/v1/uploads/<id>                purge a failed upload
    GET    /api/v1/status                      worker heartbeat, lanes, queue counts, scrapers

Operators are the users named in OPERATORS. Everything goes through `shared.queue.Queue`, the same
methods as `zarr-ingress queue ...`, so the spool protocol stays in one place. To anyone else the
per-upload routes answer exactly like an unknown id (404): whether an id exists is not told; the
routes without an id answer 403. With AUTH_ENABLED=false (local trials) everyone is an operator,
as everyone may already read every upload's status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flask import Flask, Response, jsonify, request

from gateway.errors import BadUpload, Forbidden, NotFound, Rejected, TooLarge
from shared.config import Settings
from shared.logs import log_event
from shared.queue import ACCEPTED, ACTIVE, DONE, FAILED, ID_PATTERN, Item, Queue, QueueError, id_time
from shared.queue.heartbeat import read_heartbeat, utc_stamp
from shared.queue.scheduler_state import SchedulerState

log = logging.getLogger("zarr_ingress.gateway")

FAILED_LIMIT_DEFAULT = 100
FAILED_LIMIT_MAX = 10_000
# State folder on disk -> the name `queue status` shows.
STATE_NAMES = {ACCEPTED: "waiting", ACTIVE: "active", DONE: "done", FAILED: "failed"}


class WrongState(Rejected):
    """409: the upload exists, but is not in a state the operation applies to (retry a done one)."""

    status = 409


def register_operator_api(
    app: Flask, settings: Settings, queue: Queue,
    protected: Callable[[Callable[..., Any]], Callable[..., Any]], current_user: Callable[[], str | None],
    operator: Callable[[str | None], bool],
) -> None:
    """Add the operator routes to `app`; `protected` asks for credentials, `current_user` names them,
    `operator` says whether a user is one (OPERATORS, or `operator: true` in USERS_FILE)."""

    def is_operator() -> bool:
        return not settings.auth_enabled or operator(current_user())

    def require_operator() -> None:
        if not is_operator():
            raise Forbidden(f"user {current_user()!r} is not an operator (OPERATORS, or operator: true in USERS_FILE)")

    def operator_item(upload_id: str) -> Item:
        # A plain user learns nothing about ids: the answer is that of an unknown one.
        item = queue.find(upload_id) if ID_PATTERN.fullmatch(upload_id) and is_operator() else None
        if item is None:
            raise NotFound(f"no upload with id {upload_id!r} (unknown, purged, or you are not an operator)")
        return item

    @app.get("/api/v1/failed")
    @protected
    def failed_uploads() -> Response:
        require_operator()
        endpoint = request.args.get("endpoint") or None
        known = {e.name for e in settings.endpoints} | set(queue.counts()[FAILED])
        if endpoint is not None and endpoint not in known:
            raise BadUpload(f"endpoint: {endpoint!r} is not a configured endpoint ({', '.join(sorted(known))})")
        limit = _limit(request.args.get("limit"))
        items = queue.items(FAILED, endpoint, limit=limit)
        return jsonify([
            {"id": item.id, "endpoint": item.endpoint, "node_path": item.sidecar.node_path,
             "error": item.sidecar.error, "attempts": item.sidecar.attempts, "failed_at": item.sidecar.failed_at}
            for item in items
        ])

    @app.get("/api/v1/uploads/<upload_id>/payload")
    @protected
    def upload_payload(upload_id: str) -> Response:
        item = operator_item(upload_id)
        try:
            payload = item.read_payload()
        except FileNotFoundError:  # moved on (merged and purged) between find and read
            raise NotFound(f"upload {upload_id} moved while being read; ask again") from None
        content_type = item.sidecar.content_type or "application/octet-stream"
        response = Response(payload, content_type=content_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{item.sidecar.payload_name}"'
        response.headers["X-Upload-SHA256"] = item.sidecar.sha256
        return response

    @app.put("/api/v1/uploads/<upload_id>/payload")
    @protected
    def replace_payload(upload_id: str) -> Response:
        item = operator_item(upload_id)
        payload = request.get_data(cache=False)  # the body as sent: no form, no decoding
        if not payload:
            raise BadUpload("the body is empty: send the corrected file with `--data-binary @file`")
        if len(payload) > settings.max_upload_bytes:  # the route's limit also allows multipart framing
            raise TooLarge(f"body is over the limit of {settings.max_upload_bytes} bytes")
        try:
            replaced = queue.replace_payload(item.id, payload)
        except QueueError as error:
            raise WrongState(str(error)) from None
        log_event(log, "replaced", upload_id=replaced.id, endpoint=replaced.endpoint, user=current_user(),
                  bytes=replaced.sidecar.size)
        return jsonify(id=replaced.id, state="failed", endpoint=replaced.endpoint, size=replaced.sidecar.size,
                       sha256=replaced.sidecar.sha256, replaced=replaced.sidecar.extra.get("replaced", []))

    @app.post("/api/v1/uploads/<upload_id>/retry")
    @protected
    def retry_upload(upload_id: str) -> tuple[Response, int, dict[str, str]]:
        item = operator_item(upload_id)
        try:
            retried = queue.retry(item.id)
        except QueueError as error:
            raise WrongState(str(error)) from None
        log_event(log, "retried", upload_id=retried.id, endpoint=retried.endpoint, user=current_user())
        body = {"id": retried.id, "state": "queued", "endpoint": retried.endpoint}
        return jsonify(body), 202, {"Location": f"/api/v1/uploads/{retried.id}"}

    @app.delete("/api/v1/uploads/<upload_id>")
    @protected
    def purge_upload(upload_id: str) -> Response:
        item = operator_item(upload_id)
        if item.state != FAILED:
            raise WrongState(f"upload {upload_id} is {STATE_NAMES[item.state]}, only failed uploads can be purged")
        if queue.purge_failed([item.id]) != 1:
            raise WrongState(f"upload {upload_id} left the failed queue while being purged (retried?)")
        log_event(log, "purged", upload_id=item.id, endpoint=item.endpoint, user=current_user())
        return jsonify(id=item.id, state="purged", endpoint=item.endpoint)

    @app.get("/api/v1/status")
    @protected
    def merging_status() -> Response:
        require_operator()
        return jsonify(merging_state(queue))


def merging_state(queue: Queue, now: datetime | None = None) -> dict[str, Any]:
    """What `queue status --json` tells, plus the lanes: is merging healthy, at one glance."""
    now = now or datetime.now(timezone.utc)
    counts: dict[str, dict[str, int]] = {}
    for state, per_endpoint in queue.counts().items():
        for endpoint, number in per_endpoint.items():
            counts.setdefault(endpoint, dict.fromkeys(STATE_NAMES.values(), 0))[STATE_NAMES[state]] += number
    totals = {name: sum(c[name] for c in counts.values()) for name in STATE_NAMES.values()}
    oldest: dict[str, Any] | None = None
    for endpoint, (_, oldest_id) in queue.waiting_by_endpoint().items():
        if oldest_id is not None and (oldest is None or oldest_id < oldest["id"]):
            oldest = {"id": oldest_id, "endpoint": endpoint,
                      "age_seconds": round((now - id_time(oldest_id)).total_seconds(), 3)}
    beat = read_heartbeat(queue.root)
    worker: dict[str, Any] = {"alive": False, "pid": None, "host": None, "heartbeat_at": None,
                              "heartbeat_age_seconds": None, "started_at": None}
    if beat is not None:
        worker.update(
            alive=beat.is_alive(now), pid=beat.pid, host=beat.host, heartbeat_at=utc_stamp(beat.at),
            heartbeat_age_seconds=round(beat.age_seconds(now), 1),
            started_at=utc_stamp(beat.started_at) if beat.started_at else None,
        )
    # A stale heartbeat's lanes describe a worker that is gone: shown, but `worker.alive` says so.
    lanes = [{"endpoint": name, **state} for name, state in sorted((beat.lanes if beat else {}).items())]
    scrapers = [{"name": name, **entry} for name, entry in sorted(SchedulerState(queue.root).read().items())]
    return {
        "worker": worker, "lanes": lanes,
        "queue": {"counts": counts, "totals": totals, "oldest_waiting": oldest},
        "scrapers": scrapers,
    }


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return FAILED_LIMIT_DEFAULT
    if not text.isdigit() or not 1 <= int(text) <= FAILED_LIMIT_MAX:
        raise BadUpload(f"limit: {text!r} is not a whole number from 1 to {FAILED_LIMIT_MAX}")
    return int(text)
