"""What the LoRaWAN webhook formats share: one uplink is one row of `time`, `device` and the
decoded fields, nested keys joined with `_` (`{"battery": {"v": 3.6}}` is the column `battery_v`,
a list's items are numbered: `t_0`, `t_1`).

A network server also posts events that carry no measurement (joins, acks, status); those raise
`NotAnUplink`, which the gateway answers with 202 without queuing anything.
"""

from __future__ import annotations

from typing import Any

from shared.formats.base import ParseError, check_column_count
from shared.formats.json import cell, kind
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

UPLINK_COLUMNS = ("time", "device")
SEPARATOR = "_"


class NotAnUplink(ParseError):
    """A well-formed network-server event that carries no measurement (the text says which)."""


def flatten(decoded: Any, where: str) -> dict[str, Any]:
    """The decoded payload as flat columns; a name reached twice is an error naming both paths."""
    if not isinstance(decoded, dict):
        raise ParseError(f"{where}: expected an object of decoded fields, got {kind(decoded)}")
    columns: dict[str, Any] = {}
    paths: dict[str, str] = {}
    stack: list[tuple[list[str], Any]] = [([], decoded)]
    while stack:  # iterative: a deeply nested payload cannot exhaust the call stack
        path, value = stack.pop()
        if isinstance(value, dict) or isinstance(value, list):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(([*path, str(key)], item) for key, item in reversed(list(items)))
            continue
        name = SEPARATOR.join(path)
        dotted = where + "." + ".".join(path)
        if name in UPLINK_COLUMNS or name in columns:
            other = paths.get(name, name)
            raise ParseError(f"{dotted}: column {name!r} is also {other!r}; rename a field in the "
                             "payload formatter")
        columns[name] = cell(value, dotted)
        paths[name] = dotted
    if not columns:
        raise ParseError(f"{where}: no decoded fields (is a payload formatter configured?)")
    return columns


def row_columns(row: dict[str, Any], max_columns: int | None) -> list[str]:
    check_column_count(len(row), max_columns, "uplink has ")
    return list(row)


def frame(row: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([row])
