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

from typing import Any


class FuseError(Exception):
    """Base class of every error the merge engine raises on purpose."""


class SchemaError(FuseError):
    """The schema is invalid, or does not fit the store it is opened on (permanent)."""


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
