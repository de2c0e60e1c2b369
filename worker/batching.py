"""Which waiting items merge together, and how a batch becomes one table cheaply.

A batch is a run of consecutive waiting items (in id order, i.e. acceptance order) of one
endpoint with the same node path and format, at most ``max_items`` items and ``max_rows`` rows
(a single item larger than ``max_rows`` still forms a batch of its own).

The engine merges a list of prepared tables as one table, later rows winning, which is exactly
the result of merging them one by one (SCHEMA.md section 4, rule 5). Converting one table of
200 rows costs about what converting one row costs, so a batch is first tried as a whole:
CSV uploads with the same header are parsed as one CSV, and the rows converted once. Only when
that whole finds bad data does the lane go item by item, so that a bad upload fails alone.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pandas as pd

from shared.formats import read_table

BATCHED_FORMATS = ("csv", "json")  # others (binary, extractor) merge one item at a time


@dataclass
class Entry:
    """One item of a batch: its payload, its row count, later its parsed table or the error."""

    item: Any
    payload: bytes = b""
    rows: int = 0
    table: Any = None
    error: BaseException | None = None
    traceback: str = ""


def count_csv_rows(payload: bytes) -> int:
    """Data records of a CSV payload (quoted newlines respected, blank lines skipped)."""
    text = payload.decode("utf-8", "replace")
    try:
        records = sum(1 for record in csv.reader(io.StringIO(text, newline="")) if record)
    except csv.Error:
        return 0  # parsing will report it properly, naming the line
    return max(0, records - 1)


def measure(item: Any, payload: bytes) -> Entry:
    if item.sidecar.format not in BATCHED_FORMATS:
        return Entry(item, payload, 0)  # binary or extractor: read (and counted) on its own
    if item.sidecar.format == "csv":
        return Entry(item, payload, count_csv_rows(payload))
    try:
        table = read_table(payload, item.sidecar.format)
    except Exception:  # reported when the item is parsed on its own
        return Entry(item, payload, 0)
    return Entry(item, payload, len(table), table=table)


def plan_batch(
    items: Sequence[Any],
    read_payload: Callable[[Any], bytes],
    max_items: int,
    max_rows: int,
) -> list[Entry]:
    """The next batch from the head of ``items`` (waiting items of one endpoint, in id order)."""
    if not items:
        return []
    first = items[0].sidecar
    batch: list[Entry] = []
    rows = 0
    for item in items[: max(1, max_items)]:
        if item.sidecar.node_path != first.node_path or item.sidecar.format != first.format:
            break
        entry = measure(item, read_payload(item))
        if batch and rows + entry.rows > max_rows:
            break
        rows += entry.rows
        batch.append(entry)
        if first.format not in BATCHED_FORMATS:
            break  # a GRIB field or an extractor's table is a batch of its own
    return batch


def _header(payload: bytes) -> bytes:
    return payload.split(b"\n", 1)[0].rstrip(b"\r")


def batch_table(entries: Sequence[Entry]) -> pd.DataFrame:
    """The rows of all entries in order, as one table; raises the parser's error if any is bad.

    CSV payloads with one header are joined under it and parsed once; the row count is checked
    against the entries' own counts, so a payload that would parse differently on its own (a
    quote left open, say) sends the lane to the item-by-item path instead.
    """
    fmt = entries[0].item.sidecar.format
    if fmt == "csv" and len({_header(e.payload) for e in entries}) == 1:
        parts = [entries[0].payload.split(b"\n", 1)[0].rstrip(b"\r") + b"\n"]
        for entry in entries:
            body = entry.payload.split(b"\n", 1)[1] if b"\n" in entry.payload else b""
            parts.append(body if body.endswith(b"\n") or not body else body + b"\n")
        table = read_table(b"".join(parts), "csv")
        if len(table) != sum(e.rows for e in entries):
            raise MismatchedRows(f"{len(table)} rows parsed together, {sum(e.rows for e in entries)} counted")
        return table
    tables = [e.table if e.table is not None else read_table(e.payload, fmt) for e in entries]
    return pd.concat(tables, ignore_index=True)


class MismatchedRows(ValueError):
    """Joined CSV payloads parsed into another number of rows than they hold one by one."""
