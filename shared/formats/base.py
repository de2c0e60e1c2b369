"""What every upload format shares: its error type and the text decoding of the bytes.

A format module (shared/formats/<name>.py) provides three functions behind one small interface:

* `detect(payload, content_type) -> bool`: whether the bytes are in this format (cheap: a look at
  the first bytes or the top-level keys, never a full parse);
* `sniff(payload, max_columns) -> Sniffed`: the table's column names and row count (and the
  device a webhook names) after checking the whole structure (not the values) -- the gateway's
  check before it queues an upload; `columns(payload, max_columns)` is its column names alone;
* `read(payload) -> pandas.DataFrame`: the full table for the worker. Units a format carries in
  its own header (Campbell's units line) come back in `frame.attrs["units"]` ({column: unit}).

Every error is a `ParseError` whose text names the line, record, field or column to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

NUL = b"\x00"
DEFAULT_MAX_COLUMNS = 2_000


@dataclass(frozen=True)
class Sniffed:
    """What the gateway's check learns of an upload without reading its values."""

    columns: list[str]
    rows: int
    device: str | None = None  # the device the body names (LoRaWAN webhooks): the upload's logger


class ParseError(ValueError):
    """The upload is not a table in its declared format; the text says where."""


def decode(payload: bytes) -> str:
    """The upload as text: UTF-8 (a BOM allowed), no NUL bytes, not empty."""
    if not payload.strip():
        raise ParseError("the upload is empty")
    if NUL in payload:
        raise ParseError(f"binary data (NUL byte at offset {payload.index(NUL)}), not text")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = payload[: error.start].count(b"\n") + 1
        raise ParseError(f"not UTF-8 text: invalid byte at offset {error.start} (line {line})") from None
    if not text.strip():  # a byte-order mark and nothing else
        raise ParseError("the upload is empty (only a byte-order mark)")
    return text


def check_column_count(count: int, max_columns: int | None, where: str) -> None:
    if max_columns is not None and count > max_columns:
        raise ParseError(f"{where}{count} columns, more than the limit of {max_columns} (MAX_COLUMNS)")
