"""``QUEUE_DIR/worker.heartbeat``: proof of life of the worker that holds the queue lock.

Format (JSON, replaced atomically every HEARTBEAT_SECONDS by the active worker only):
    {"pid": 4242, "host": "node-1", "at": "2026-11-24T03:00:00.123Z", "started_at": "...",
     "lanes": {"tree": {"state": "store unreachable", "since": "2026-11-24T02:58:10.000Z",
                        "reason": "s3://... timed out", "busy": "merging 3 item(s)",
                        "busy_since": "..."}}}
``lanes`` tells an operator what each endpoint's lane is doing: "ok" (its store answered last
time) or "store unreachable" since when and why, and the store call it is in, if any.
A reader calls the worker alive when ``at`` is less than STALE_AFTER_SECONDS old. The file is
removed on a clean shutdown; a killed worker leaves it behind, and it goes stale.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HEARTBEAT_FILE = "worker.heartbeat"
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 15.0


def utc_stamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Heartbeat:
    pid: int
    host: str
    at: datetime
    started_at: datetime | None = None
    lanes: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(timezone.utc)) - self.at).total_seconds()

    def is_alive(self, now: datetime | None = None) -> bool:
        return self.age_seconds(now) < STALE_AFTER_SECONDS


def write_heartbeat(
    queue_dir: Path, started_at: datetime, lanes: dict[str, dict[str, str | None]] | None = None
) -> None:
    path = Path(queue_dir) / HEARTBEAT_FILE
    record = {"pid": os.getpid(), "host": socket.gethostname(), "at": utc_stamp(), "started_at": utc_stamp(started_at),
              "lanes": lanes or {}}
    temporary = path.with_name(f".{HEARTBEAT_FILE}.{os.getpid()}")
    temporary.write_text(json.dumps(record) + "\n")
    os.replace(temporary, path)  # readers never see a half-written file


def read_heartbeat(queue_dir: Path) -> Heartbeat | None:
    try:
        record = json.loads((Path(queue_dir) / HEARTBEAT_FILE).read_text())
        return Heartbeat(
            pid=int(record["pid"]),
            host=str(record.get("host", "")),
            at=parse_stamp(record["at"]),
            started_at=parse_stamp(record["started_at"]) if record.get("started_at") else None,
            lanes=dict(record.get("lanes") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_heartbeat(queue_dir: Path) -> None:
    """Remove the heartbeat if it is ours (a standby may already have taken over)."""
    current = read_heartbeat(queue_dir)
    if current is not None and current.pid == os.getpid() and current.host == socket.gethostname():
        try:
            (Path(queue_dir) / HEARTBEAT_FILE).unlink()
        except FileNotFoundError:
            pass
