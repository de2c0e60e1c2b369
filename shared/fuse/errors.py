"""The merge engine's exceptions, told apart by class, never by message.

::

    FuseError                 anything the engine raises on purpose
     +-- SchemaError          permanent: the schema is invalid, or incompatible with the store
     +-- DataError            permanent: the table is wrong (row, column, value);
     |                        the worker moves the item to failed/
     +-- StoreError           transient: store unreachable, 5xx, timeout, missing credentials
                              or bucket; the worker keeps the item queued and retries

``str()`` of each is one line a person can act on: the schema file and key path, the row,
column and value, or the endpoint and bucket (never a secret).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class SchemaFinding:
    """One thing a schema check found: where (file and key path) and what.

    ``severity`` is ``"error"`` (the schema is refused) or ``"warning"`` (an obsolete or
    ignored construct: the schema loads, the finding is logged and listed by ``schema check``).
    """
    file: str
    key_path: str
    message: str
    severity: str = "warning"

    def __str__(self) -> str:
        return f"{self.file}: {self.key_path or '(top)'}: {self.message}"


class FuseError(Exception):
    """Base class of every error the merge engine raises on purpose."""


class SchemaError(FuseError):
    """The schema is invalid, or does not fit the store it is opened on (permanent).

    ``findings`` holds every fault the loader found (real culprit first) and the warnings
    collected before it gave up; empty when the error did not come from loading a schema.
    """

    def __init__(self, message: str, findings: Iterable[SchemaFinding] = ()) -> None:
        super().__init__(message)
        self.findings = tuple(findings)


class DataError(FuseError):
    """An upload cannot be merged as it is (permanent); nothing was written.

    ``row`` is the 1-based position of the offending row in the table (None when the problem
    is the table as a whole), ``column`` the input column, ``value`` the offending cell.
    """

    def __init__(self, message: str, *, row: int | None = None, column: str | None = None,
                 value: Any = None) -> None:
        super().__init__(message)
        self.row = row
        self.column = column
        self.value = value


class StoreError(FuseError):
    """The store could not be reached or used right now (transient: retry later)."""
