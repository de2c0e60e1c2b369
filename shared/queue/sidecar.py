"""The record of one upload (its sidecar) and the upload id: what gateway, worker and operators read.

An upload id looks like ``20261124T021105_123456789Z``: the UTC time of acceptance with
nanoseconds, fixed width, so ids sort as plain strings (how they are made strictly increasing
is `shared/queue/__init__.py`'s business). The sidecar is JSON beside the payload; it never holds a
password or secret.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any

# Tables, binary fields (shared/binary.py) and "raw" bytes for an endpoint's extractor plugin.
# The table formats of shared.formats (spelled out: the queue does not import the parsers).
FORMATS = ("csv", "json", "toa5", "csijson", "ttn", "chirpstack", "grib", "gribbz2", "netcdf", "raw")
SIDECAR_SUFFIX = ".meta.json"
ID_PATTERN = re.compile(r"\d{8}T\d{6}_\d{9}Z")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def id_time(upload_id: str) -> datetime:
    """The acceptance time encoded in an upload id (UTC)."""
    stamp, nanos = upload_id.rstrip("Z").split("_")
    base = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    return base + timedelta(microseconds=int(nanos) // 1000)


def format_id(nanoseconds: int) -> str:
    seconds, nanos = divmod(nanoseconds, 1_000_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"_{nanos:09d}Z"


@dataclass
class Sidecar:
    """The metadata of one upload, stored as JSON beside its payload. Never holds a password."""

    id: str
    endpoint: str
    format: str  # one of FORMATS; also the payload's file extension
    size: int
    sha256: str
    received_at: str  # RFC 3339 UTC
    node_path: str = ""  # "" is the root node
    schema_path: str | None = None
    content_type: str | None = None
    filename: str | None = None  # multipart only
    username: str | None = None
    remote_addr: str | None = None
    idempotency_key: str | None = None
    ignored_columns: list[str] | None = None  # upload columns the node's schema does not know
    revision: int = 0  # + 1 at every state change; the highest copy wins after a crash
    attempts: int = 0
    claimed_at: str | None = None
    merged_at: str | None = None
    rows: int | None = None
    batch: str | None = None
    error: str | None = None
    traceback: str | None = None
    failed_at: str | None = None
    retried_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fields this version does not know
    # True when enqueue() answered a repeated Idempotency-Key with the original; not stored.
    replayed: bool = field(default=False, compare=False)

    @property
    def payload_name(self) -> str:
        return f"{self.id}.{self.format}"

    @property
    def sidecar_name(self) -> str:
        return self.payload_name + SIDECAR_SUFFIX

    def to_json(self) -> str:
        # Shallow on purpose: every field is a plain value, and asdict() costs ~0.5 ms per upload.
        record = {name: getattr(self, name) for name in _SIDECAR_FIELDS}
        return json.dumps({**self.extra, **record}, ensure_ascii=False)  # C encoder: no indent

    @classmethod
    def from_json(cls, text: str | bytes) -> Sidecar:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("a sidecar is a JSON object")
        values = {k: v for k, v in record.items() if k in _KNOWN}
        values["extra"] = {k: v for k, v in record.items() if k not in _KNOWN}
        sidecar = cls(**values)
        if not ID_PATTERN.fullmatch(str(sidecar.id)) or sidecar.format not in FORMATS:
            raise ValueError(f"sidecar has a bad id {sidecar.id!r} or format {sidecar.format!r}")
        return sidecar

    def updated(self, **changes: Any) -> Sidecar:
        """A copy with `changes` applied; names this class does not know go to `extra`."""
        extra = dict(self.extra)
        extra.update({k: v for k, v in changes.items() if k not in _KNOWN})
        return replace(self, extra=extra, replayed=False, **{k: v for k, v in changes.items() if k in _KNOWN})


_SIDECAR_FIELDS = tuple(f.name for f in fields(Sidecar) if f.name not in ("extra", "replayed"))
_KNOWN = frozenset(_SIDECAR_FIELDS)  # computed once: fields() costs more than the rest of a parse
