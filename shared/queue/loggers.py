"""Who sent what last: per endpoint and logger, the time and row count of the last accepted upload.

`QUEUE_DIR/loggers/last_uploads.json`, written by the gateway processes (gateway/last_uploads.py:
each folds what it accepted into the file at most once a second), read by the gateway's
/metrics, by `zarr-ingress queue loggers` and by the worker's silence alerts (worker/alerts.py).

A logger is the authenticated user of the upload, or the device a LoRaWAN webhook names (one
network server posts for many devices), or `-` when authentication is off. Several gunicorn
workers (processes) write the one file: each merge is a read-modify-write under an exclusive
`flock` on `last_uploads.lock`, keeping the later time per logger, and the file is replaced by a
rename, so a reader never sees half of it and a restart of any process loses nothing written.

`QUEUE_DIR/loggers/silence.json` is the worker's memory of which silences it has reported, so a
silence is reported once, not in every digest, and not again after a worker restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.logs import log_event

log = logging.getLogger("zarr_ingress.loggers")

FOLDER = "loggers"
LAST_UPLOADS_FILE = "last_uploads.json"
SILENCE_FILE = "silence.json"
ANONYMOUS = "-"
# Device ids come from request bodies: a client naming a new device in every upload must not
# grow the file (and the /metrics series) without bound. Past the cap new loggers are not recorded.
MAX_LOGGERS_PER_ENDPOINT = 10_000
# ... nor make one record as big as an upload: a longer device id is kept as its first characters.
MAX_LOGGER_CHARS = 128


@dataclass(frozen=True)
class LastUpload:
    endpoint: str
    logger: str
    at: float  # POSIX seconds (UTC) of the acceptance
    rows: int | None  # None: the gateway does not count the rows of this format (binary, extractor)

    def silent_seconds(self, now: float) -> float:
        return max(0.0, now - self.at)


class LoggerBook:
    """The last upload per endpoint and logger, shared by every process through one small file."""

    def __init__(self, queue_dir: Path) -> None:
        self.folder = Path(queue_dir) / FOLDER
        self.path = self.folder / LAST_UPLOADS_FILE
        self.silence_path = self.folder / SILENCE_FILE
        self._capped: set[str] = set()  # endpoints whose cap was logged by this process

    def read(self) -> list[LastUpload]:
        """Every logger's last upload (none while nothing was ever recorded)."""
        return [LastUpload(endpoint, logger, float(at), rows)
                for endpoint, loggers in self._read_raw().items() for logger, (at, rows) in loggers.items()]

    def merge(self, uploads: Iterable[LastUpload]) -> None:
        """Fold `uploads` into the file: per logger the later upload wins."""
        uploads = list(uploads)
        if not uploads:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            book = self._read_raw()
            for upload in uploads:
                loggers = book.setdefault(upload.endpoint, {})
                known = loggers.get(upload.logger)
                if known is None and len(loggers) >= MAX_LOGGERS_PER_ENDPOINT:
                    if upload.endpoint not in self._capped:
                        self._capped.add(upload.endpoint)
                        log_event(log, "loggers_capped", logging.WARNING, endpoint=upload.endpoint,
                                  limit=MAX_LOGGERS_PER_ENDPOINT, logger=upload.logger)
                    continue
                if known is None or known[0] <= upload.at:
                    # [at, rows]: a pair, not an object, keeps the write of a big file cheap
                    loggers[upload.logger] = [round(upload.at, 6), upload.rows]
            self._write(self.path, book)

    def read_silences(self) -> dict[str, dict[str, float]]:
        """{endpoint: {logger: `at` of the last upload before the reported silence}}."""
        return _read_json(self.silence_path)

    def write_silences(self, silences: dict[str, dict[str, float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(self.silence_path, silences)

    def _read_raw(self) -> dict[str, dict[str, list]]:
        return _read_json(self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / "last_uploads.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _write(path: Path, content: dict) -> None:
        # Write-then-rename: readers see the old file or the new one, never half of one. No
        # fsync: this is bookkeeping, not data; a power cut may cost the last second of it.
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(content, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, path)


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:  # only a hand edit or a full disk makes this; start over rather than stop
        log_event(log, "loggers_file_unreadable", logging.WARNING, file=path)
        return {}
    return value if isinstance(value, dict) else {}
