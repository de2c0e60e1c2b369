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

A retired logger is forgotten (`zarr-ingress queue loggers --forget`): its record and its
silence go, under the same lock, and `loggers/forgotten.json` keeps when. A gateway process may
still hold a record of an upload of it that it has not written yet; the merge drops every record
not later than the forgetting, so only an upload after it brings the logger back (and ends the
entry in forgotten.json). The times are the hosts' clocks: gateways and CLI on hosts whose clocks
differ by more than the gateway's write interval (a second) could keep or drop a record wrongly.
"""

from __future__ import annotations

import contextlib
import difflib
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
FORGOTTEN_FILE = "forgotten.json"
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


class UnknownLogger(LookupError):
    """`forget` of an endpoint or logger the book has no record of; `str()` names what it has."""


class LoggerBook:
    """The last upload per endpoint and logger, shared by every process through one small file."""

    def __init__(self, queue_dir: Path) -> None:
        self.folder = Path(queue_dir) / FOLDER
        self.path = self.folder / LAST_UPLOADS_FILE
        self.silence_path = self.folder / SILENCE_FILE
        self.forgotten_path = self.folder / FORGOTTEN_FILE
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
            forgotten = _read_json(self.forgotten_path)
            back = False
            for upload in uploads:
                gone = forgotten.get(upload.endpoint, {}).get(upload.logger)
                if gone is not None:
                    if upload.at <= gone:
                        continue  # held in memory since before the forgetting: stays forgotten
                    del forgotten[upload.endpoint][upload.logger]  # an upload since: alive again
                    back = True
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
            if back:
                self._write(self.forgotten_path, {e: names for e, names in forgotten.items() if names})

    def forget(self, endpoint: str, logger: str, now: float) -> LastUpload:
        """Remove `logger`'s record and silence; what a gateway holds from before `now` stays out.

        Raises UnknownLogger naming what the book has. Returns the record that was removed.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            book = self._read_raw()
            loggers = book.get(endpoint)
            if loggers is None:
                raise UnknownLogger(_unknown(f"no endpoint {endpoint!r} with loggers recorded", endpoint, book))
            if logger not in loggers:
                raise UnknownLogger(_unknown(f"no logger {logger!r} recorded for endpoint {endpoint}", logger, loggers))
            at, rows = loggers.pop(logger)
            if not loggers:
                del book[endpoint]
            forgotten = _read_json(self.forgotten_path)
            # A record written with a clock ahead of this one is forgotten too.
            forgotten.setdefault(endpoint, {})[logger] = max(now, float(at))
            # This order: a crash between two writes leaves the logger listed (forget it again),
            # never a record that a gateway's stale copy could bring back.
            self._write(self.forgotten_path, forgotten)
            self._write(self.path, book)
            silences = self.read_silences()
            if logger in silences.get(endpoint, {}):
                del silences[endpoint][logger]
                self._write(self.silence_path, {e: names for e, names in silences.items() if names})
        return LastUpload(endpoint, logger, float(at), rows)

    def read_silences(self) -> dict[str, dict[str, float]]:
        """{endpoint: {logger: `at` of the last upload before the reported silence}}."""
        return _read_json(self.silence_path)

    def write_silences(self, silences: dict[str, dict[str, float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(self.silence_path, silences)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The book's lock, for a read-modify-write of the silences (the worker's check)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            yield

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


def _unknown(message: str, name: str, known: dict) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    # Device ids come from request bodies: escaped, so a hostile one cannot garble a terminal.
    listed = ", ".join(n if n.isprintable() and " " not in n else ascii(n) for n in names[:20])
    listed += f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{message} ({hint}recorded: {listed or 'none'})"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:  # only a hand edit or a full disk makes this; start over rather than stop
        log_event(log, "loggers_file_unreadable", logging.WARNING, file=path)
        return {}
    return value if isinstance(value, dict) else {}
