"""Physical units (pint) and date-time units: parsing, conversion and the CF encoding of times.

Everything here is pure: numpy/pandas in, numpy out. Times are stored as int64 counts of the
unit's tick since 1970-01-01 UTC, which xarray decodes through the CF attributes written by
``cf_time_attrs``.
"""
from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
import pint

TICKS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
         "m": "minutes", "h": "hours", "D": "days"}
TICK_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1, "m": 60 * 10**9, "h": 3600 * 10**9,
           "D": 86400 * 10**9}
# numpy's spelling of each tick, for datetime64[...] types
TICK_NUMPY = {"s": "s", "ms": "ms", "us": "us", "ns": "ns", "m": "m", "h": "h", "D": "D"}

# Time-zone abbreviations are read as the fixed offset they name (CET is always +01:00; a
# schema that wants daylight saving names an IANA zone such as Europe/Prague).
ABBREVIATIONS = {"UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60,
                 "CEST": 120, "EET": 120, "EEST": 180, "MSK": 180, "EST": -300, "EDT": -240,
                 "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
                 "JST": 540, "AEST": 600, "AEDT": 660}
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")
_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class DateTimeUnit:
    """A date-time unit of the schema language: ``{tick, tz, dayfirst, yearfirst}``."""
    tick: str = "us"
    tz: str = "UTC"
    dayfirst: bool = False
    yearfirst: bool = True

    def as_mapping(self) -> dict:
        return {"tick": self.tick, "tz": self.tz, "dayfirst": self.dayfirst,
                "yearfirst": self.yearfirst}


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The one pint registry of the engine (building one costs ~0.3 s)."""
    return pint.UnitRegistry()


def parse_unit(expr: str) -> pint.Unit:
    """A pint unit from its expression; raises ValueError with a readable reason."""
    try:
        return registry().Unit(expr)
    except (pint.errors.PintError, AttributeError, TypeError, SyntaxError, ValueError) as exc:
        raise ValueError(f"undefined unit {expr!r} ({exc})") from None


def long_name(expr: str | None) -> str | None:
    """pint's long form of a unit (``degC`` -> ``degree_Celsius``), as stored on disk."""
    if expr is None:
        return None
    return str(parse_unit(expr))


def check_convertible(source: str, target: str) -> None:
    """Raise ValueError when ``source`` cannot be converted to ``target``."""
    src, dst = parse_unit(source), parse_unit(target)
    if src.dimensionality != dst.dimensionality:
        hint = ""
        if "C" in (source, target) and "[temperature]" in (str(src.dimensionality),
                                                            str(dst.dimensionality)):
            hint = "; note that 'C' is coulomb in pint, Celsius is 'degC'"
        raise ValueError(f"cannot convert {source!r} ({src.dimensionality}) to {target!r} "
                         f"({dst.dimensionality}){hint}")


def converter(source: str | None, target: str | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """A function converting float arrays from ``source`` to ``target``; None if no-op."""
    if source is None or target is None or parse_unit(source) == parse_unit(target):
        return None
    ureg = registry()
    src, dst = parse_unit(source), parse_unit(target)

    def convert(values: np.ndarray) -> np.ndarray:
        return np.asarray(ureg.Quantity(values, src).to(dst).magnitude, dtype=np.float64)
    return convert


def convert_scalar(value: float, source: str, target: str) -> float:
    fn = converter(source, target)
    return float(value) if fn is None else float(fn(np.array([float(value)]))[0])


def parse_tz(name: str) -> tzinfo:
    """An IANA zone, a fixed offset (``+01:00``) or an abbreviation (``CET``)."""
    name = str(name).strip()
    if name.upper() in ABBREVIATIONS:
        return timezone(timedelta(minutes=ABBREVIATIONS[name.upper()]))
    match = _OFFSET.match(name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        minutes = int(match.group(2)) * 60 + int(match.group(3) or 0)
        return timezone(sign * timedelta(minutes=minutes))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         f"'Europe/Prague', an offset such as '+01:00', or an abbreviation "
                         f"such as 'CET')") from None


def cf_time_attrs(unit: DateTimeUnit) -> dict:
    """CF attributes that let xarray decode the stored int64 ticks to datetime64."""
    return {"units": f"{TICKS[unit.tick]} since 1970-01-01 00:00:00",
            "calendar": "proleptic_gregorian"}


def _is_missing(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        cells = values.to_numpy(dtype=object)
        return np.asarray(pd.isna(cells), dtype=bool) | np.asarray(cells == "", dtype=bool)
    return np.array(values.isna().to_numpy(dtype=bool))


def parse_times(values: pd.Series, unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a column to int64 ticks since the epoch (UTC).

    Returns ``(ticks, missing, bad)``: boolean masks of empty cells and of cells that are not
    times. Numbers are epoch seconds; strings without an offset are in ``unit.tz`` (daylight
    saving honoured; an ambiguous fall-back hour takes the first, summer-time instant; a
    non-existent spring-forward time is bad); strings with an offset or ``Z`` mean what they say.
    """
    values = pd.Series(values).reset_index(drop=True)
    n = len(values)
    missing = _is_missing(values)
    ns = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    present = ~missing
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values
        if stamps.dt.tz is None:
            stamps = _localize(stamps, unit)
        ok = present & stamps.notna().to_numpy()
        ns[ok] = stamps[ok].dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64).to_numpy()
        bad = present & ~ok
    else:
        numbers = pd.to_numeric(values.where(present), errors="coerce").to_numpy(dtype=np.float64)
        is_number = present & np.isfinite(numbers)
        if is_number.any():
            ns[is_number] = np.round(numbers[is_number] * 1e9).astype(np.int64)
        text = values[present & ~is_number].astype(str).str.strip()
        blank = (text == "").to_numpy(dtype=bool)
        if blank.any():
            missing[text.index.to_numpy()[blank]] = True
            text = text[~blank]
        if len(text):
            ns_text, bad_text = _parse_text(text, unit)
            ns[text.index.to_numpy()] = ns_text
            bad[text.index.to_numpy()] = bad_text
    ticks = np.floor_divide(ns, TICK_NS[unit.tick])
    return ticks, missing, bad


def _localize(stamps: pd.Series, unit: DateTimeUnit) -> pd.Series:
    tz = parse_tz(unit.tz)
    return stamps.dt.tz_localize(tz, ambiguous=np.ones(len(stamps), dtype=bool),
                                 nonexistent="NaT")


def _to_datetime(text: pd.Series, unit: DateTimeUnit, utc: bool) -> pd.Series:
    kwargs = dict(dayfirst=unit.dayfirst, yearfirst=unit.yearfirst, errors="coerce", utc=utc)
    parsed = pd.to_datetime(text, **kwargs)
    retry = parsed.isna()
    if retry.any():   # several formats in one upload: parse the rest one by one
        parsed = parsed.copy()
        parsed[retry] = pd.to_datetime(text[retry], format="mixed", **kwargs)
    return parsed


def _parse_text(text: pd.Series, unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray]:
    ns = np.zeros(len(text), dtype=np.int64)
    bad = np.zeros(len(text), dtype=bool)
    has_offset = np.array(text.str.contains(_HAS_OFFSET).to_numpy(dtype=bool))
    # a bare date ("2026-11-03") ends in "-03" and is not an offset
    has_offset = has_offset & (text.str.contains(r"[T\s]\d", regex=True).to_numpy(dtype=bool)
                              | text.str.endswith(("Z", "z")).to_numpy(dtype=bool))
    for mask, aware in ((has_offset, True), (~has_offset, False)):
        if not mask.any():
            continue
        part = text[mask]
        with _quiet():
            parsed = _to_datetime(part, unit, utc=aware)
        if not aware:
            parsed = _localize(parsed, unit)
        ok = parsed.notna().to_numpy()
        out = np.zeros(len(part), dtype=np.int64)
        if ok.any():
            out[ok] = (parsed[ok].dt.tz_convert("UTC").dt.tz_localize(None)
                       .astype("datetime64[ns]").astype(np.int64).to_numpy())
        ns[mask] = out
        bad[mask] = ~ok
    return ns, bad


class _quiet:
    """Silence pandas' format-inference warnings; failures are reported per cell instead."""
    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
