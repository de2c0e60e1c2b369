"""Upload formats, one module each behind one interface (see shared/formats/base.py).

`FORMATS` maps a format's name (as stored in an upload's sidecar) to its module; adding a
format is adding a module and a line here. `sniff_columns` (the gateway) and `read_table` (the
worker) dispatch on that name.
"""

from __future__ import annotations

from types import ModuleType

import pandas as pd

from shared.formats import csv, json
from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError
from shared.formats.csv import header_columns

MODULES: dict[str, ModuleType] = {module.NAME: module for module in (csv, json)}
FORMATS = tuple(MODULES)


def module(fmt: str) -> ModuleType:
    try:
        return MODULES[fmt]
    except KeyError:
        raise ParseError(f"unknown format {fmt!r} (expected {' or '.join(FORMATS)})") from None


def sniff_columns(payload: bytes, fmt: str, max_columns: int = DEFAULT_MAX_COLUMNS) -> list[str]:
    """The upload's column names, after checking its whole structure (not its values)."""
    return module(fmt).columns(payload, max_columns)


def read_table(payload: bytes, fmt: str) -> pd.DataFrame:
    """The upload as a DataFrame: CSV cells as strings (empty cell = missing), JSON values as given."""
    return module(fmt).read(payload)


__all__ = ["DEFAULT_MAX_COLUMNS", "FORMATS", "MODULES", "ParseError", "header_columns", "module", "read_table",
           "sniff_columns"]
