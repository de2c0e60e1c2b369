"""The scheduler's state file, `QUEUE_DIR/scheduler/state.json`: per scraper its last run.

Written by the scheduler (for its catch-up at start), read by `zarr-ingress queue status`;
times are ISO 8601 UTC (`2026-06-14T06:15:00Z`).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class SchedulerState:
    """`QUEUE_DIR/scheduler/state.json`: per scraper its last scheduled run time and outcome."""

    def __init__(self, queue_dir: Path) -> None:
        self.path = queue_dir / "scheduler" / "state.json"
        self._lock = threading.Lock()

    def read(self) -> dict[str, dict[str, object]]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def record(self, scraper: str, scheduled: str, ok: bool, fetched: int, failed: int,
               next_run: str | None = None, reason: str = "") -> None:
        """The run's outcome; `reason` says why a failed run failed (kept until a run succeeds)."""
        with self._lock:
            state = self.read()
            entry = state.setdefault(scraper, {})
            entry.update(last_run=scheduled, last_ok=ok, fetched=fetched, failed=failed)
            if ok:
                entry["last_success"] = scheduled
                entry.pop("reason", None)
            else:
                entry["reason"] = reason or "failed"
            if next_run is not None:
                entry["next_run"] = next_run
            self._write(state)

    def set_next(self, scraper: str, next_run: str) -> None:
        with self._lock:
            state = self.read()
            state.setdefault(scraper, {})["next_run"] = next_run
            self._write(state)

    def _write(self, state: dict[str, dict[str, object]]) -> None:
        # Write-then-rename: a crash leaves the old state or the new, never half a file.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)
