"""watchdog events as a hint that an endpoint has new items; the periodic rescan is the truth."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from shared.logs import log_event

log = logging.getLogger("worker.watch")
SIDECAR_SUFFIX = ".meta.json"


class _SidecarHandler(FileSystemEventHandler):
    def __init__(self, accepted_dir: Path, wake: Callable[[str], None]) -> None:
        self.accepted_dir = accepted_dir
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Only arrivals matter: a sidecar created in (or moved into) accepted/. The worker's own
        # moves out of accepted/ are thousands of events during a backlog; they wake nobody.
        if event.event_type == "created":
            arrived = event.src_path
        elif event.event_type == "moved":
            arrived = event.dest_path
        else:
            return
        path = arrived.decode() if isinstance(arrived, bytes) else str(arrived)
        if not path.endswith(SIDECAR_SUFFIX):
            return
        try:
            endpoint = Path(path).relative_to(self.accepted_dir).parts[0]
        except (ValueError, IndexError):
            return
        self.wake(endpoint)


def start_watching(accepted_dir: Path, wake: Callable[[str], None]) -> Observer | None:
    """Start an observer on accepted/, or None when the platform refuses (rescans still work)."""
    try:
        accepted_dir.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.daemon = True
        observer.schedule(_SidecarHandler(accepted_dir.resolve(), wake), str(accepted_dir.resolve()), recursive=True)
        observer.start()
        return observer
    except Exception as error:  # e.g. inotify watch limit reached: degrade to polling
        log_event(log, "watch_unavailable", logging.WARNING, path=accepted_dir, error=error)
        return None
