"""Uploads as tables: the gateway's cheap syntax check and the worker's full parse.

Both accept the same two formats:
* CSV: UTF-8 (a BOM is allowed), a header row, the same number of cells in every row; the
  delimiter is `,` unless the header line only has `;` or tabs.
* JSON: a list of records (`[{"a": 1, "b": 2}, ...]`) or a mapping of equal-length columns
  (`{"a": [1, 2], "b": [3, 4]}`), with scalar values only; a key twice in one object, or an
  integer literal longer than any number type holds, is an error (not a silent last-wins or a
  crash in Python's int conversion).
Errors are `ParseError`s whose text names the line, record or column to fix.

Every check is linear in the size of the upload: a header of 40,000 columns must cost no more
than a body of 40,000 cells. `sniff_columns` also caps the number of columns (MAX_COLUMNS).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import pandas as pd

FORMATS = ("csv", "json")
NUL = b"\x00"
DEFAULT_MAX_COLUMNS = 2_000
# float64 tops out near 1.8e308 (309 digits): a longer integer literal fits no schema type, and
# Python refuses to convert one of more than 4,300 digits at all.
JSON_INT_MAX_DIGITS = 309


class ParseError(ValueError):
    """The upload is not a table in its declared format; the text says where."""


def sniff_columns(payload: bytes, fmt: str, max_columns: int = DEFAULT_MAX_COLUMNS) -> list[str]:
    """The upload's column names, after checking its whole structure (not its values)."""
    text = _decode(payload)
    if fmt == "csv":
        columns = _csv_columns(text, max_columns)
    elif fmt == "json":
        columns = _json_columns(_load_json(text))
        if len(columns) > max_columns:
            raise ParseError(f"JSON has {len(columns)} columns, more than the limit of {max_columns} (MAX_COLUMNS)")
    else:
        raise ParseError(f"unknown format {fmt!r} (expected csv or json)")
    return columns


def read_table(payload: bytes, fmt: str) -> pd.DataFrame:
    """The upload as a DataFrame: CSV cells as strings (empty cell = missing), JSON values as given."""
    text = _decode(payload)
    if fmt == "csv":
        _csv_columns(text)
        return pd.read_csv(
            io.StringIO(text), sep=_delimiter(text), dtype=str, keep_default_na=False,
            na_values=[""], skip_blank_lines=True,
        )
    if fmt == "json":
        value = _load_json(text)
        _json_columns(value)
        return pd.DataFrame.from_records(value) if isinstance(value, list) else pd.DataFrame(value)
    raise ParseError(f"unknown format {fmt!r} (expected csv or json)")


def header_columns(payload: bytes) -> list[str]:
    """The column names of a CSV upload's header line alone (cheap; the worker's record keeping)."""
    line = payload.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    return [name.strip() for name in next(csv.reader([line], delimiter=_delimiter(line)), [])]


def _decode(payload: bytes) -> str:
    if not payload.strip():
        raise ParseError("the upload is empty")
    if NUL in payload:
        raise ParseError(f"binary data (NUL byte at offset {payload.index(NUL)}), not text")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = payload[: error.start].count(b"\n") + 1
        raise ParseError(f"not UTF-8 text: invalid byte at offset {error.start} (line {line})") from None


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    if "," in header:
        return ","
    return max((";", "\t"), key=header.count) if (";" in header or "\t" in header) else ","


SINGLE_LINE = "the body is a single line: `curl -d` strips newlines; send it with `--data-binary @file`"


def _csv_columns(text: str, max_columns: int | None = None) -> list[str]:
    if "\n" not in text and "\r" not in text:
        raise ParseError(SINGLE_LINE)  # a header with its rows glued on, never a table worth reading
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = next(rows)
        if max_columns is not None and len(header) > max_columns:
            raise ParseError(
                f"CSV line 1: {len(header)} columns, more than the limit of {max_columns} (MAX_COLUMNS)"
            )
        columns = [name.strip() for name in header]
        if not any(columns):
            raise ParseError("CSV line 1: the header row is empty")
        for number, name in enumerate(columns, start=1):
            if not name:
                raise ParseError(f"CSV line 1: column {number} of the header has no name")
            if _is_number(name):
                raise ParseError(f"CSV line 1: no header row (column {number} is the number {name!r})")
        duplicates = sorted(name for name, seen in Counter(columns).items() if seen > 1)
        if duplicates:
            raise ParseError(f"CSV line 1: duplicate column names {', '.join(duplicates)}")
        data_rows = 0
        for row in rows:
            if not row or row == [""]:
                continue
            if len(row) != len(columns):
                raise ParseError(
                    f"CSV line {rows.line_num}: {len(row)} cells, but the header has {len(columns)} columns"
                )
            data_rows += 1
    except csv.Error as error:
        raise ParseError(f"CSV line {rows.line_num}: {error}") from None
    if data_rows == 0:
        raise ParseError("CSV has a header row but no data rows")
    return columns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def _load_json(text: str) -> Any:
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
                raise ParseError(f"JSON record {index}: expected an object, got {_kind(record)}")
            if getattr(record, "duplicate", None) is not None:
                raise ParseError(f"JSON record {index}: key {record.duplicate!r} appears twice")
            for key, cell in record.items():
                if not _is_scalar(cell):
                    raise ParseError(f"JSON record {index}, key {key!r}: expected a plain value, got {_kind(cell)}")
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
                raise ParseError(f"JSON column {key!r}: expected a list of values, got {_kind(column)}")
            for index, cell in enumerate(column):
                if not _is_scalar(cell):
                    raise ParseError(f"JSON column {key!r}, value {index}: expected a plain value, got {_kind(cell)}")
                if isinstance(cell, _LongInteger):
                    raise ParseError(f"JSON column {key!r}, value {index}: {_long(cell)}")
            lengths.add(len(column))
        if len(lengths) > 1:
            shown = ", ".join(f"{k}: {len(v)}" for k, v in value.items())
            raise ParseError(f"JSON columns have different lengths ({shown})")
        if lengths == {0}:
            raise ParseError("JSON columns are empty")
        return list(value)
    raise ParseError(f"JSON must be a list of records or a mapping of columns, got {_kind(value)}")


def _long(literal: str) -> str:
    shown = literal[:12] + "..." if len(literal) > 15 else literal
    return (f"the integer {shown} has {len(literal.lstrip('-'))} digits, more than the "
            f"{JSON_INT_MAX_DIGITS} any number type holds")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _kind(value: Any) -> str:
    for kind, name in ((dict, "an object"), (list, "a list"), (str, "a string"), (bool, "a boolean")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "a number"
