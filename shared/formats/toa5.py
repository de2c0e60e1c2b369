"""Campbell Scientific TOA5: what CR1000X/CR6 loggers (`HTTPPost`) and LoggerNet send.

Four header lines, then quoted CSV rows:

    "TOA5","<station>","<model>","<serial>","<os>","<program>","<signature>","<table>"
    "TIMESTAMP","RECORD","BattV_Min","T107_C(1)",...      field names
    "TS","RN","Volts","Deg C",...                         units
    "","","Min","Smp",...                                 processing

`"NAN"` in a cell is missing. The table's columns are the field names (array fields such as
`T107_C(1)` keep their name) plus `station` and `table` from the environment line, so a schema
can use them as coordinates. The units line comes back in `frame.attrs["units"]`; the worker
checks it against the schema (shared/formats/units.py).
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, check_column_count, decode
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "toa5"
SIGNATURE = "TOA5"
MISSING = "NAN"
ENVIRONMENT_FIELDS = ("file type", "station", "logger model", "serial number", "OS version",
                      "program", "program signature", "table")
ADDED_COLUMNS = ("station", "table")
# Units of the bookkeeping fields: not physical units, never checked against the schema.
NOT_UNITS = ("", "TS", "RN")


def detect(payload: bytes, content_type: str = "") -> bool:
    """A TOA5 file starts with the quoted word TOA5 (LoggerNet writes it quoted, some tools not)."""
    head = payload[:8].removeprefix(b"\xef\xbb\xbf")
    return head.startswith((b'"TOA5"', b"TOA5,"))


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    table = _parse(decode(payload), max_columns)
    return Sniffed(list(table.columns), len(table.rows))


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    return _parse(decode(payload), None).frame()


class _Table:
    def __init__(self, station: str, table: str, fields: list[str], units: list[str],
                 rows: list[list[str]]) -> None:
        self.station, self.table, self.fields, self.units, self.rows = station, table, fields, units, rows

    @property
    def columns(self) -> list[str]:
        return [*self.fields, *ADDED_COLUMNS]

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=self.fields, dtype=object)
        frame = frame.where(frame != MISSING, None)  # cells stay strings; the schema converts them
        frame["station"] = self.station
        frame["table"] = self.table
        frame.attrs["units"] = {f: u for f, u in zip(self.fields, self.units) if u not in NOT_UNITS}
        return frame


def _parse(text: str, max_columns: int | None) -> _Table:
    lines = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        environment = _line(lines, "environment")
        if not environment or environment[0] != SIGNATURE:
            raise ParseError(f'TOA5 line 1: expected "TOA5" first, got {environment[:1]!r}')
        if len(environment) < len(ENVIRONMENT_FIELDS):
            missing = ", ".join(ENVIRONMENT_FIELDS[len(environment):])
            raise ParseError(f"TOA5 line 1: {len(environment)} fields, the environment line needs "
                             f"{len(ENVIRONMENT_FIELDS)} (missing: {missing})")
        fields = [name.strip() for name in _line(lines, "field names")]
        check_column_count(len(fields) + len(ADDED_COLUMNS), max_columns, "TOA5 line 2: ")
        for number, name in enumerate(fields, start=1):
            if not name:
                raise ParseError(f"TOA5 line 2: field {number} has no name")
        duplicates = sorted(name for name, seen in Counter(fields).items() if seen > 1)
        if duplicates:
            raise ParseError(f"TOA5 line 2: duplicate field names {', '.join(duplicates)}")
        clashes = [name for name in ADDED_COLUMNS if name in fields]
        if clashes:
            raise ParseError(f"TOA5 line 2: field {clashes[0]!r} clashes with the column the "
                             "environment line fills (rename the field in the logger program)")
        units = _line(lines, "units")
        _same_width(units, fields, 3, "units")
        _same_width(_line(lines, "processing"), fields, 4, "processing")
        rows = []
        for row in lines:
            if not row or row == [""]:
                continue
            if len(row) != len(fields):
                raise ParseError(f"TOA5 line {lines.line_num}: {len(row)} cells, but line 2 names "
                                 f"{len(fields)} fields")
            rows.append(row)
    except csv.Error as error:
        raise ParseError(f"TOA5 line {lines.line_num}: {error}") from None
    if not rows:
        raise ParseError("TOA5 has its four header lines but no data rows")
    return _Table(environment[1], environment[7], fields, [u.strip() for u in units], rows)


def _line(lines: "csv._reader", what: str) -> list[str]:
    try:
        return next(lines)
    except StopIteration:
        raise ParseError(f"TOA5 line {lines.line_num + 1}: missing (expected the {what} line)") from None


def _same_width(cells: list[str], fields: list[str], number: int, what: str) -> None:
    if len(cells) != len(fields):
        raise ParseError(f"TOA5 line {number}: {len(cells)} {what} entries, but line 2 names "
                         f"{len(fields)} fields")
