"""CSV: UTF-8 (a BOM is allowed), a header row, the same number of cells in every row.

The delimiter is `,` unless the header line only has `;` or tabs. Cells are read as strings
(an empty cell is missing); the schema's types convert them later. Every check is linear in the
size of the upload: a header of 40,000 columns costs no more than a body of 40,000 cells.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, decode
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "csv"


def detect(payload: bytes, content_type: str = "") -> bool:
    """Any text upload declared as CSV is CSV (TOA5 is tried first: it is CSV with a preamble)."""
    return True


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    return _check(decode(payload), max_columns)


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    text = decode(payload)
    _check(text)
    return pd.read_csv(
        io.StringIO(text), sep=_delimiter(text), dtype=str, keep_default_na=False,
        na_values=[""], skip_blank_lines=True,
    )


def header_columns(payload: bytes) -> list[str]:
    """The column names of a CSV upload's header line alone (cheap; the worker's record keeping)."""
    line = payload.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    return [name.strip() for name in next(csv.reader([line], delimiter=_delimiter(line)), [])]


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    if "," in header:
        return ","
    return max((";", "\t"), key=header.count) if (";" in header or "\t" in header) else ","


SINGLE_LINE = "the body is a single line: `curl -d` strips newlines; send it with `--data-binary @file`"


def _check(text: str, max_columns: int | None = None, *, quick: bool = True) -> Sniffed:
    if "\n" not in text and "\r" not in text:
        raise ParseError(f"CSV line 1: {SINGLE_LINE}")  # a header with its rows glued on, never a table worth reading
    delimiter = _delimiter(text)
    if quick and '"' not in text and len(text) < csv.field_size_limit():
        sniffed = _unquoted(text, delimiter, max_columns)
        if sniffed is not None:
            return sniffed
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        columns = _header(next(rows), max_columns)
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
    return Sniffed(columns, data_rows)


def _unquoted(text: str, delimiter: str, max_columns: int | None) -> Sniffed | None:
    """The check of a CSV without a quote character, where a row is a line and its cells are
    what the delimiter splits (what the csv module reads it as), counted in C: a logger's
    upload costs a few microseconds, not the csv reader's tens per upload. None when a row is
    not as wide as the header, or there are none: the csv reader then says where."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # its line ends: \r\n, \r, \n
    columns = _header(lines[0].split(delimiter), max_columns)
    separators = len(columns) - 1
    widths = [line.count(delimiter) for line in lines[1:] if line]  # empty lines are no rows
    if not widths or widths.count(separators) != len(widths):
        return None
    return Sniffed(columns, len(widths))


def _header(header: list[str], max_columns: int | None) -> list[str]:
    """The column names of a header row; ParseError naming what is wrong with it."""
    if max_columns is not None and len(header) > max_columns:
        raise ParseError(f"CSV line 1: {len(header)} columns, more than the limit of {max_columns} (MAX_COLUMNS)")
    columns = [name.strip() for name in header]
    if not any(columns):
        raise ParseError("CSV line 1: the header row is empty")
    for number, name in enumerate(columns, start=1):
        if not name:
            raise ParseError(f"CSV line 1: column {number} of the header has no name")
        if _is_number(name):
            raise ParseError(f"CSV line 1: no header row (column {number} is the number {name!r})")
    if len(set(columns)) != len(columns):
        duplicates = sorted(name for name, seen in Counter(columns).items() if seen > 1)
        raise ParseError(f"CSV line 1: duplicate column names {', '.join(duplicates)}")
    return columns


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


