"""Failed logins counted per client address and per user name, shared by all gateway processes.

After LOGIN_FAILURES_MAX failures from one address, or for one user name, within
LOGIN_FAILURES_WINDOW seconds (counted from the first), further logins from that address or
for that name are answered 429 with Retry-After until the window ends — without checking
their secret, so guessing learns nothing while blocked and costs no hash. The exception is a
credential this gateway has already seen succeed (`known`): a logger behind the same NAT as an
attacker, or whose name is being guessed, keeps getting in.

One small JSON file under an exclusive flock, in memory (/dev/shm, else the temporary
directory) and never on the queue's disk, holds the counts and the known credentials, so the
limit holds across gunicorn's worker processes (per-process counts would let W workers take W
times the guesses, and a success in one would not be known in the others). Only refusals and
the first success of a credential in a process touch it: an upload of a remembered credential
never does. Addresses, names and credentials are stored as HMACs under `GATEWAY_KEY`, a
random key that lives only in memory: the gunicorn master imports this module before it forks
(gateway/gunicorn_conf.py), so all its workers share the key, and a file copied off the host
tells nothing. The file is named by an HMAC of the queue directory: the processes of one
gateway share it, another gateway on the host (a test, a bench) has its own. A restart forgets the counts (a new key, a new file): at most one more window of
guesses per restart, and restarts are not the attacker's to make.

Every checked login is counted before its check and taken back when it succeeds (`attempt`,
`succeeded`), so the limit is exact even with many guesses in flight in several processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GATEWAY_KEY = os.urandom(32)  # see the module text: made once in the gunicorn master, inherited
ENTRIES_MAX = 10_000  # failure counters kept (the oldest go first): bounds the file under a botnet
KNOWN_MAX = 4_096  # credentials known to have succeeded
STALE_SECONDS = 86_400  # files of earlier gateway runs are removed after a day
FILE_PREFIX = "login-failures-"


class FailedLogins:
    def __init__(self, scope: str, *, max_failures: int, window: float, state_dir: Path | None = None,
                 clock: Callable[[], float] = time.time, key: bytes = GATEWAY_KEY) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._key = key
        state_dir = state_dir if state_dir is not None else default_state_dir()
        self.path = state_dir / f"{FILE_PREFIX}{self._digest(f'file{chr(0)}{scope}')[:16]}.json"
        self._remove_stale(state_dir)

    def token(self, *parts: str) -> str:
        """The stored form of a credential: an HMAC under the gateway's memory-only key."""
        return self._digest("\0".join(parts))

    def attempt(self, address: str, name: str, token: str | None) -> tuple[float, bool]:
        """Count a login about to be checked, unless blocked: (seconds to wait, 0 when counted; known).

        The attempt is counted before its secret is checked (and taken back by `succeeded`), so
        concurrent guesses in several processes cannot slip past the limit while their hash
        checks run: at most LOGIN_FAILURES_MAX are ever checked per window.
        """
        with self._locked() as state:
            if token is not None and token in state["known"]:
                return 0.0, True
            now = self._clock()
            keys = (self._digest(f"a\0{address}"), self._digest(f"u\0{name}"))
            wait = max(self._wait(state, key, now) for key in keys)
            if wait > 0:
                return wait, False
            failures = state["failures"]
            for key in keys:
                count, since = failures.get(key, (0, now))
                if now - since >= self.window:
                    count, since = 0, now
                failures[key] = (count + 1, since)
            self._prune(failures, now)
            state["changed"] = True
            return 0.0, False

    def succeeded(self, address: str, name: str, token: str) -> None:
        """Take back the attempt of a login that succeeded, and know its credential in every process."""
        with self._locked() as state:
            failures = state["failures"]
            for key in (self._digest(f"a\0{address}"), self._digest(f"u\0{name}")):
                if key in failures:
                    count, since = failures[key]
                    failures[key] = (max(0, count - 1), since)
            known = state["known"]
            known[token] = self._clock()
            for old in sorted(known, key=known.__getitem__)[: max(0, len(known) - KNOWN_MAX)]:
                del known[old]
            state["changed"] = True

    def _prune(self, failures: dict[str, tuple[int, float]], now: float) -> None:
        for key in [k for k, (_, since) in failures.items() if now - since >= self.window]:
            del failures[key]
        for key in sorted(failures, key=lambda k: failures[k][1])[: max(0, len(failures) - ENTRIES_MAX)]:
            del failures[key]

    def _wait(self, state: dict[str, Any], key: str, now: float) -> float:
        count, since = state["failures"].get(key, (0, now))
        if count < self.max_failures or now - since >= self.window:
            return 0.0
        return since + self.window - now

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        # The file is its own lock: opened without truncation, flocked, read, rewritten in place.
        # A torn file (a crash mid-write) reads as empty: counts are protection, not data.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as handle:
                state = _parsed(handle.read())
                yield state
                if state.pop("changed", False):
                    handle.seek(0)
                    handle.truncate()
                    json.dump(state, handle, separators=(",", ":"))
        finally:
            os.close(fd)  # releases the flock

    def _remove_stale(self, state_dir: Path) -> None:
        now = time.time()
        for path in state_dir.glob(f"{FILE_PREFIX}*.json"):
            with contextlib.suppress(OSError):
                if path != self.path and now - path.stat().st_mtime > STALE_SECONDS:
                    path.unlink()


def default_state_dir() -> Path:
    """Where the counts live: memory when the host has /dev/shm (no disk write per refusal)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _parsed(text: str) -> dict[str, Any]:
    try:
        state = json.loads(text) if text else {}
    except ValueError:
        state = {}
    if not isinstance(state, dict):
        state = {}
    failures = state.get("failures") if isinstance(state.get("failures"), dict) else {}
    known = state.get("known") if isinstance(state.get("known"), dict) else {}
    return {"failures": {k: tuple(v) for k, v in failures.items()}, "known": known}
