"""How the worker reacts to an error: by its class, never by its message.

    permanent   the upload itself is wrong (unparseable, schema violation, node not in schema):
                the item goes to failed/ at once, the rest of its batch still merges
    transient   the store is unreachable, answers 5xx, times out, or credentials/bucket are
                missing: the item stays queued, its endpoint pauses with exponential backoff
    unexpected  any other exception class (a bug, or a failure nobody classified yet): retried
                like a transient error for UNEXPECTED_ATTEMPTS attempts, then the item goes to
                failed/ with its traceback
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from shared.fuse.errors import DataError, SchemaError, StoreError
from shared.formats import ParseError

UNEXPECTED_ATTEMPTS = 3


class Verdict(enum.Enum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNEXPECTED = "unexpected"


def classify(error: BaseException) -> Verdict:
    if isinstance(error, (DataError, SchemaError, ParseError)):
        return Verdict.PERMANENT
    if isinstance(error, StoreError):
        return Verdict.TRANSIENT
    return Verdict.UNEXPECTED


def gives_up(verdict: Verdict, attempts_so_far: int) -> bool:
    """True when the item should go to failed/ now; attempts_so_far excludes this one."""
    if verdict is Verdict.PERMANENT:
        return True
    if verdict is Verdict.UNEXPECTED:
        return attempts_so_far + 1 >= UNEXPECTED_ATTEMPTS
    return False


@dataclass
class Backoff:
    """Exponential delay between retries of one endpoint: base, 2*base, 4*base ... up to cap."""

    base: float = 1.0
    cap: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2 ** min(self.failures, 30)))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
