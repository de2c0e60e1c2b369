"""JSON: a list of records (`[{"a": 1, "b": 2}, ...]`) or a mapping of equal-length columns
(`{"a": [1, 2], "b": [3, 4]}`), with scalar values only.

A key twice in one object, or an integer literal longer than any number type holds, is an error
(not a silent last-wins or a crash in Python's int conversion). `load` and `kind` are shared with
the formats that are JSON underneath (CSIJSON, LoRaWAN webhooks).
"""

from __future__ import annotations

import json
from typing import Any

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, check_column_count, decode
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "json"
# float64 tops out near 1.8e308 (309 digits): a longer integer literal fits no schema type, and
# Python refuses to convert one of more than 4,300 digits at all.
JSON_INT_MAX_DIGITS = 309


def detect(payload: bytes, content_type: str = "") -> bool:
    """Any upload declared as JSON is JSON (CSIJSON and the webhooks are tried first)."""
    return True


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    value = load(decode(payload))
    names = _json_columns(value)
    check_column_count(len(names), max_columns, "JSON has ")
    # _json_columns has checked the shape: records, or columns of one length
    rows = len(value) if isinstance(value, list) else len(next(iter(value.values())))
    return Sniffed(names, rows)


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    value = load(decode(payload))
    _json_columns(value)
    return pd.DataFrame.from_records(value) if isinstance(value, list) else pd.DataFrame(value)


class _Object(dict):
    """A decoded JSON object that remembers the first key it saw twice (JSON allows it, we do not)."""

    duplicate: str | None = None


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    record = _Object(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        record.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return record


class _LongInteger(str):
    """An integer literal too long for any number type; kept as text so the error can say where."""


def _integer(literal: str) -> int | _LongInteger:
    digits = len(literal.lstrip("-"))
    return _LongInteger(literal) if digits > JSON_INT_MAX_DIGITS else int(literal)


def load(text: str) -> Any:
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise ParseError(f"JSON line {error.lineno} column {error.colno}: {error.msg}") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply; expected a list of records or a mapping of columns") from None
    if isinstance(value, _Object) and value.duplicate is not None:
        raise ParseError(f"JSON column {value.duplicate!r} appears twice in the object")
    return value


def _json_columns(value: Any) -> list[str]:
    if isinstance(value, list):
        if not value:
            raise ParseError("JSON list is empty: expected at least one record")
        columns: dict[str, None] = {}
        for index, record in enumerate(value):
            if not isinstance(record, dict):
                raise ParseError(f"JSON record {index}: expected an object, got {kind(record)}")
            if getattr(record, "duplicate", None) is not None:
                raise ParseError(f"JSON record {index}: key {record.duplicate!r} appears twice")
            for key, cell in record.items():
                if not _is_scalar(cell):
                    raise ParseError(f"JSON record {index}, key {key!r}: expected a plain value, got {kind(cell)}")
                if isinstance(cell, _LongInteger):
                    raise ParseError(f"JSON record {index}, key {key!r}: {_long(cell)}")
                columns.setdefault(key, None)
        return list(columns)
    if isinstance(value, dict):
        if not value:
            raise ParseError("JSON object is empty: expected columns")
        lengths = set()
        for key, column in value.items():
            if not isinstance(column, list):
                raise ParseError(f"JSON column {key!r}: expected a list of values, got {kind(column)}")
            for index, cell in enumerate(column):
                if not _is_scalar(cell):
                    raise ParseError(f"JSON column {key!r}, value {index}: expected a plain value, got {kind(cell)}")
                if isinstance(cell, _LongInteger):
                    raise ParseError(f"JSON column {key!r}, value {index}: {_long(cell)}")
            lengths.add(len(column))
        if len(lengths) > 1:
            shown = ", ".join(f"{k}: {len(v)}" for k, v in value.items())
            raise ParseError(f"JSON columns have different lengths ({shown})")
        if lengths == {0}:
            raise ParseError("JSON columns are empty")
        return list(value)
    raise ParseError(f"JSON must be a list of records or a mapping of columns, got {kind(value)}")


def _long(literal: str) -> str:
    shown = literal[:12] + "..." if len(literal) > 15 else literal
    return (f"the integer {shown} has {len(literal.lstrip('-'))} digits, more than the "
            f"{JSON_INT_MAX_DIGITS} any number type holds")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def kind(value: Any) -> str:
    for kind, name in ((dict, "an object"), (list, "a list"), (str, "a string"), (bool, "a boolean")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"


def cell(value: Any, where: str) -> Any:
    """A plain value of a nested format (CSIJSON, webhooks), or a ParseError naming `where`."""
    if isinstance(value, _LongInteger):
        raise ParseError(f"{where}: {_long(value)}")
    if not _is_scalar(value):
        raise ParseError(f"{where}: expected a plain value, got {kind(value)}")
    return value


def check_object(value: Any, where: str) -> dict:
    """`value` as a JSON object without a key given twice, or a ParseError naming `where`."""
    if not isinstance(value, dict):
        raise ParseError(f"{where}: expected an object, got {kind(value)}")
    if getattr(value, "duplicate", None) is not None:
        raise ParseError(f"{where}: key {value.duplicate!r} appears twice")
    return value


def top_level_object(payload: bytes, keys: tuple[str, ...]) -> dict | None:
    """The upload as a JSON object when it has all `keys` at its top level, else None.

    Cheap first: only a body starting with `{` that mentions every key is parsed at all.
    """
    head = payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head != b"{" or not all(f'"{key}"'.encode() in payload for key in keys):
        return None
    try:
        value = load(decode(payload))
    except ParseError:
        return None
    return value if isinstance(value, dict) and all(key in value for key in keys) else None
