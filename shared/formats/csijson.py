"""Campbell Scientific CSIJSON: the JSON a CR1000X/CR6 `HTTPPost` sends with format 4.

    {"head": {"environment": {"station_name": ..., "table_name": ..., "model": ...},
              "fields": [{"name": "BattV_Min", "type": "xsd:float", "units": "Volts",
                          "process": "Min"}, ...]},
     "data": [{"time": "2026-12-01T10:00:00", "no": 100, "vals": [12.61, ...]}, ...]}

Mapped like TOA5 (shared/formats/toa5.py): `time` is the column `TIMESTAMP`, `no` is `RECORD`,
each field a column of its `vals` position, a `"NAN"` value is missing, and the environment's
station and table names are the columns `station` and `table`. Units as in TOA5.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, check_column_count, decode
from shared.formats.json import cell, check_object, kind, load, top_level_object
from shared.formats.toa5 import ADDED_COLUMNS, MISSING
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "csijson"
TOP_KEYS = ("head", "data")
RECORD_COLUMNS = {"time": "TIMESTAMP", "no": "RECORD"}


def detect(payload: bytes, content_type: str = "") -> bool:
    document = top_level_object(payload, TOP_KEYS)
    return document is not None and isinstance(document["head"], dict) and "fields" in document["head"]


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    names, rows, _ = _parse(payload, max_columns)
    return Sniffed(names, len(rows))


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    names, rows, units = _parse(payload, None)
    frame = pd.DataFrame(rows, columns=names, dtype=object)
    frame.attrs["units"] = units
    return frame


def _parse(payload: bytes, max_columns: int | None) -> tuple[list[str], list[list[Any]], dict[str, str]]:
    document = check_object(load(decode(payload)), "CSIJSON")
    for key in TOP_KEYS:
        if key not in document:
            raise ParseError(f"CSIJSON: key {key!r} missing (expected head and data)")
    head = check_object(document["head"], "CSIJSON head")
    environment = check_object(head.get("environment", {}), "CSIJSON head.environment")
    station = _text(environment.get("station_name", ""), "CSIJSON head.environment.station_name")
    table = _text(environment.get("table_name", ""), "CSIJSON head.environment.table_name")
    raw_fields = head.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ParseError(f"CSIJSON head.fields: expected a non-empty list of fields, got {kind(raw_fields)}")
    check_column_count(len(raw_fields) + len(RECORD_COLUMNS) + len(ADDED_COLUMNS), max_columns,
                       "CSIJSON head.fields: ")
    fields, units = [], {}
    for index, raw in enumerate(raw_fields):
        field = check_object(raw, f"CSIJSON head.fields[{index}]")
        name = _text(field.get("name"), f"CSIJSON head.fields[{index}].name").strip()
        if not name:
            raise ParseError(f"CSIJSON head.fields[{index}].name: empty")
        fields.append(name)
        unit = field.get("units")
        if unit not in (None, ""):
            units[name] = _text(unit, f"CSIJSON head.fields[{index}].units").strip()
    names = [*RECORD_COLUMNS.values(), *fields, *ADDED_COLUMNS]
    duplicates = sorted(name for name, seen in Counter(names).items() if seen > 1)
    if duplicates:
        raise ParseError(f"CSIJSON head.fields: duplicate or reserved field names {', '.join(duplicates)}")
    records = document["data"]
    if not isinstance(records, list) or not records:
        raise ParseError(f"CSIJSON data: expected a non-empty list of records, got {kind(records)}")
    rows = []
    for index, raw in enumerate(records):
        record = check_object(raw, f"CSIJSON data[{index}]")
        values = record.get("vals")
        if not isinstance(values, list):
            raise ParseError(f"CSIJSON data[{index}].vals: expected a list of values, got {kind(values)}")
        if len(values) != len(fields):
            raise ParseError(f"CSIJSON data[{index}].vals: {len(values)} values, but head.fields "
                             f"names {len(fields)} fields")
        if "time" not in record:
            raise ParseError(f"CSIJSON data[{index}]: key 'time' missing")
        row = [cell(record.get(key), f"CSIJSON data[{index}].{key}") for key in RECORD_COLUMNS]
        for name, value in zip(fields, values):
            value = cell(value, f"CSIJSON data[{index}].vals ({name})")
            row.append(None if value == MISSING else value)
        rows.append([*row, station, table])
    return names, rows, units


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ParseError(f"{where}: expected a string, got {kind(value)}")
    return value
