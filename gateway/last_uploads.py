"""The gateway's side of "who went silent": remember each accepted upload's logger, cheaply.

An upload only updates a dict in memory; a daemon thread of the process folds the dict into
`QUEUE_DIR/loggers/last_uploads.json` (shared/queue/loggers.py) at most once a second, and at
process exit. So a burst of a thousand uploads costs one file write, not a thousand, and a
crash loses at most the last second of records (never an upload: the queue has those).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from shared.logs import log_event
from shared.queue.loggers import ANONYMOUS, MAX_LOGGER_CHARS, LastUpload, LoggerBook

log = logging.getLogger("zarr_ingress.gateway")

FLUSH_SECONDS = 1.0


class LastUploadRecorder:
    def __init__(self, book: LoggerBook, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.book = book
        self.flush_seconds = flush_seconds
        self._pending: dict[tuple[str, str], LastUpload] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def record(self, endpoint: str, logger: str | None, rows: int | None) -> None:
        upload = LastUpload(endpoint, (logger or ANONYMOUS)[:MAX_LOGGER_CHARS], time.time(), rows)
        with self._lock:
            self._pending[(upload.endpoint, upload.logger)] = upload
            # Started here, not in __init__: the app may be built before gunicorn forks, and a
            # thread does not survive the fork.
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="last-uploads", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
        if not self._wake.is_set():  # set() takes the event's lock and notifies: once per write is enough
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        try:
            self.book.merge(pending)
        except OSError as error:  # a full disk: the uploads themselves get the 503; keep the records for later
            log_event(log, "last_uploads_not_written", logging.WARNING, error=error.strerror or error)
            with self._lock:
                for upload in pending:
                    self._pending.setdefault((upload.endpoint, upload.logger), upload)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.flush()
            time.sleep(self.flush_seconds)  # what arrives meanwhile goes out in the next write
