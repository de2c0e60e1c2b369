"""Upload formats, one module each behind one interface (see shared/formats/base.py).

`FORMATS` maps a format's name (as stored in an upload's sidecar) to its module; adding a
format is adding a module and a line here. `sniff_columns` (the gateway) and `read_table` (the
worker) dispatch on that name.
"""

from __future__ import annotations

from types import ModuleType

from shared.formats import chirpstack, csijson, csv, json, toa5, ttn
from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed
from shared.formats.csv import header_columns
from shared.formats.uplink import NotAnUplink
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

MODULES: dict[str, ModuleType] = {
    module.NAME: module for module in (csv, json, toa5, csijson, ttn, chirpstack)
}
FORMATS = tuple(MODULES)
# What the content type says (csv or json) -> the formats tried by content, the generic one last.
FAMILIES: dict[str, tuple[ModuleType, ...]] = {
    "csv": (toa5, csv),
    "json": (csijson, ttn, chirpstack, json),
}


def module(fmt: str) -> ModuleType:
    try:
        return MODULES[fmt]
    except KeyError:
        raise ParseError(f"unknown format {fmt!r} (expected {' or '.join(FORMATS)})") from None


def resolve(payload: bytes, declared: str, required: str | None = None, content_type: str = "") -> str:
    """The format of an upload whose content type says `declared` (csv or json).

    An endpoint's `format:` (`required`) wins; otherwise the family's formats are detected by
    content in order (TOA5 before plain CSV; CSIJSON and the webhooks before plain JSON).
    """
    if required is not None:
        return required
    family = FAMILIES.get(declared)
    if family is None:
        return declared
    return next(m.NAME for m in family if m.detect(payload, content_type))


def check_event(fmt: str, event: str | None) -> None:
    """Raise NotAnUplink when a webhook's request names an event that carries no measurement."""
    check = getattr(module(fmt), "check_event", None)
    if check is not None:
        check(event)


def sniff(payload: bytes, fmt: str, max_columns: int = DEFAULT_MAX_COLUMNS) -> Sniffed:
    """The upload's column names and row count, after checking its whole structure (not its values)."""
    return module(fmt).sniff(payload, max_columns)


def sniff_columns(payload: bytes, fmt: str, max_columns: int = DEFAULT_MAX_COLUMNS) -> list[str]:
    """The upload's column names, after checking its whole structure (not its values)."""
    return sniff(payload, fmt, max_columns).columns


def read_table(payload: bytes, fmt: str) -> pd.DataFrame:
    """The upload as a DataFrame: CSV cells as strings (empty cell = missing), JSON values as given."""
    return module(fmt).read(payload)


__all__ = ["DEFAULT_MAX_COLUMNS", "FAMILIES", "FORMATS", "MODULES", "NotAnUplink", "ParseError", "Sniffed",
           "check_event", "header_columns", "module", "read_table", "resolve", "sniff", "sniff_columns"]
