"""`zarr-ingress queue adopt OLD_QUEUE_DIR`: take over the original server's queue.

The original server keeps `accepted/`, `success/` and `failed/`, each item a payload
`<YYYYmmddTHHMMSS>_<12 hex>.<ext>` with its `<payload>.meta.json`, directly in the state folder
or in a folder per endpoint. Adopting copies every waiting item (and with `--failed` every
failed one, after them) into this queue in their original order, with new ids and the sidecar
fields mapped; `success/` is merged already and only counted. Nothing in the old folder is
changed or deleted.

Idempotent: each adopted item leaves a record in `QUEUE_DIR/adopted/` (and is enqueued with an
`adopt:` idempotency key, so a crash between the two still adopts it once).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shared.config import Endpoint, Settings
from shared.queue import Queue
from shared.queue.durable import ensure_dir, write_synced

OLD_NAME = re.compile(r"(\d{8}T\d{6})_([0-9a-f]{12})\.([A-Za-z0-9.]+)")
META_SUFFIX = ".meta.json"
EXTENSIONS = {"csv": "csv", "json": "json", "grib": "grib", "grb": "grib", "grib2": "grib", "grb2": "grib",
              "grib.bz2": "gribbz2", "grb.bz2": "gribbz2", "grib2.bz2": "gribbz2", "grb2.bz2": "gribbz2",
              "nc": "netcdf", "nc4": "netcdf", "netcdf": "netcdf"}
ADOPTED = "adopted"


@dataclass
class Adoption:
    """One old item and what becomes of it: adopted (fields set) or skipped (reason set)."""

    old_state: str
    payload: Path
    meta: dict[str, Any] = field(default_factory=dict)
    endpoint: Endpoint | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why it is not adopted
    new_id: str | None = None

    @property
    def key(self) -> str:
        return f"adopt:{self.old_state}/{self.payload.name}"


def plan_adoption(old_dir: Path, settings: Settings, queue: Queue, *, include_failed: bool) -> tuple[list[Adoption], dict[str, int]]:
    """The items to adopt, in order, and counts of what stays (success/, failed/ without the flag)."""
    states = ["accepted"] + (["failed"] if include_failed else [])
    left = {"success": len(_old_items(old_dir / "success"))}
    if not include_failed:
        left["failed"] = len(_old_items(old_dir / "failed"))
    plans: list[Adoption] = []
    for state in states:
        items = sorted(_old_items(old_dir / state), key=_order)
        for payload in items:
            plans.append(_plan_one(state, payload, settings, queue))
    return plans, left


def adopt(queue: Queue, plans: list[Adoption]) -> None:
    """Enqueue every planned item (in order) and record it; skips those adopted before."""
    for plan in plans:
        if plan.reason is not None:
            continue
        payload = plan.payload.read_bytes()
        sidecar = queue.enqueue(plan.endpoint.name, payload, idempotency_key=plan.key, **plan.fields)
        plan.new_id = sidecar.id
        record = {"old": str(plan.payload), "old_state": plan.old_state, "id": sidecar.id,
                  "adopted_at": datetime.now(timezone.utc).isoformat()}
        path = _record_path(queue, plan)
        ensure_dir(path.parent)
        write_synced((path, json.dumps(record).encode()))


def _old_items(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for path in [folder, *(p for p in folder.iterdir() if p.is_dir())]:
        for entry in os.scandir(path):
            if entry.is_file() and not entry.name.endswith(META_SUFFIX) and OLD_NAME.fullmatch(entry.name):
                found.append(Path(entry.path))
    return found


def _order(payload: Path) -> tuple[str, str, int, str]:
    # Acceptance order: the second in the name first; within a second the hex is random, so the
    # recorded time (when the sidecar has one), then the file time, then the name decide.
    match = OLD_NAME.fullmatch(payload.name)
    meta = _read_meta(payload)
    received = str(meta.get("received_at") or meta.get("uploaded_at") or meta.get("timestamp") or "")
    return match.group(1), received, payload.stat().st_mtime_ns, payload.name


def _read_meta(payload: Path) -> dict[str, Any]:
    try:
        meta = json.loads(payload.with_name(payload.name + META_SUFFIX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _plan_one(state: str, payload: Path, settings: Settings, queue: Queue) -> Adoption:
    plan = Adoption(state, payload)
    meta_path = payload.with_name(payload.name + META_SUFFIX)
    if not meta_path.is_file():
        plan.reason = f"no {meta_path.name} beside it"
        return plan
    plan.meta = _read_meta(payload)
    if not plan.meta:
        plan.reason = f"{meta_path.name} is not a JSON object"
        return plan
    if _record_path(queue, plan).is_file():
        recorded = json.loads(_record_path(queue, plan).read_text())
        plan.reason = f"adopted before as {recorded.get('id')}"
        return plan
    endpoint = _endpoint(plan.meta, payload, settings)
    if endpoint is None:
        named = plan.meta.get("endpoint_name") or plan.meta.get("endpoint") or payload.parent.name
        plan.reason = f"endpoint {named!r} is not in the endpoints file"
        return plan
    plan.endpoint = endpoint
    ext = OLD_NAME.fullmatch(payload.name).group(3).lower()
    fmt = "raw" if endpoint.extractor else EXTENSIONS.get(ext)
    if fmt is None:
        plan.reason = f"unknown payload type .{ext}"
        return plan
    node_path = str(plan.meta.get("node_path") or "").strip("/") or endpoint.target_node
    plan.fields = {
        "format": fmt, "node_path": node_path, "schema_path": str(endpoint.schema_path),
        "content_type": plan.meta.get("content_type"), "filename": plan.meta.get("filename"),
        "username": plan.meta.get("username") or plan.meta.get("user"),
        "remote_addr": plan.meta.get("remote_addr"),
        "extra": {"adopted_from": str(payload), "adopted_state": state, "original_meta": plan.meta},
    }
    return plan


def _endpoint(meta: dict[str, Any], payload: Path, settings: Settings) -> Endpoint | None:
    by_name = {e.name: e for e in settings.endpoints}
    by_route = {e.route: e for e in settings.endpoints}
    for value in (meta.get("endpoint_name"), meta.get("name"), meta.get("endpoint")):
        if isinstance(value, str):
            found = by_name.get(value) or by_route.get(value.rstrip("/"))
            if found is not None:
                return found
    return by_name.get(payload.parent.name)


def _record_path(queue: Queue, plan: Adoption) -> Path:
    digest = hashlib.sha256(plan.key.encode()).hexdigest()[:32]
    return queue.root / ADOPTED / f"{digest}.json"
