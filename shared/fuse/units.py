"""Physical units (pint) and date-time units: parsing, conversion and the CF encoding of times.

Everything here is pure: numpy/pandas in, numpy out. Times are stored as int64 counts of the
unit's tick since 1970-01-01 UTC, which xarray decodes through the CF attributes written by
``cf_time_attrs``.
"""
from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Callable, NamedTuple

import sys
from typing import TYPE_CHECKING

from shared.lazy import LazyModule

if TYPE_CHECKING:
    import pint
np = LazyModule("numpy")  # the gateway parses units only: numpy is the worker's (shared/lazy.py)

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)
pa = LazyModule("pyarrow")
pc = LazyModule("pyarrow.compute")

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


# Years a time may fall in unless the unit says otherwise: far enough for any logger, and well
# inside what xarray can decode (datetime64[ns] spans 1677-09-21 .. 2262-04-11).
DEFAULT_WINDOW = (1900, 2200)
WINDOW_LIMITS = (1678, 2261)


@dataclass(frozen=True)
class DateTimeUnit:
    """A date-time unit of the schema language: ``{tick, tz, dayfirst, yearfirst}``.

    Two keys of this project say how input is read and are not part of what is stored
    (``as_mapping`` leaves them out, so ``__structure__`` stays what zarr-fuse writes):
    ``epoch`` (numbers and digit strings are counts of ``tick`` since 1970-01-01 UTC) and
    ``window`` (the first and last year a time may fall in).
    """
    tick: str = "us"
    tz: str = "UTC"
    dayfirst: bool = False
    yearfirst: bool = True
    epoch: bool = False
    window: tuple[int, int] = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not isinstance(self.epoch, bool):
            raise ValueError(f"epoch: must be true or false, not {self.epoch!r}")
        window = self.window
        if (not isinstance(window, (list, tuple)) or len(window) != 2
                or not all(isinstance(y, int) and not isinstance(y, bool) for y in window)):
            raise ValueError(f"window: must be [first year, last year], not {window!r}")
        first, last = window
        if not WINDOW_LIMITS[0] <= first <= last <= WINDOW_LIMITS[1]:
            raise ValueError(f"window: [{first}, {last}] must be ascending years within "
                             f"{WINDOW_LIMITS[0]}..{WINDOW_LIMITS[1]} (what xarray can decode)")
        object.__setattr__(self, "window", (first, last))

    def as_mapping(self) -> dict:
        return {"tick": self.tick, "tz": self.tz, "dayfirst": self.dayfirst,
                "yearfirst": self.yearfirst}

    def window_ns(self) -> tuple[int, int]:
        """The window as ``[start, end)`` in ns since the epoch (UTC)."""
        return (pd.Timestamp(year=self.window[0], month=1, day=1).value,
                pd.Timestamp(year=self.window[1] + 1, month=1, day=1).value)


_units_only = False


def parse_units_only() -> None:
    """Say that this process parses and compares units but never converts values (the gateway):
    pint is then imported without its optional numpy support, ~10 MB less in every process
    (issue 11). Call it before the first unit is parsed; a process that converts must not."""
    global _units_only
    _units_only = True


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The one pint registry of the engine (building one costs ~0.3 s)."""
    return _pint().UnitRegistry()


def _pint():
    if _units_only and "pint" not in sys.modules and "numpy" not in sys.modules:
        sys.modules["numpy"] = None  # type: ignore[assignment]  # pint's `import numpy` fails: no numpy support
        try:
            import pint  # noqa: PLC0415
        finally:
            del sys.modules["numpy"]
        return pint
    import pint  # noqa: PLC0415

    return pint


def parse_unit(expr: str) -> pint.Unit:
    """A pint unit from its expression; raises ValueError with a readable reason."""
    try:
        return registry().Unit(expr)
    except Exception as exc:   # pint's parser raises anything (TokenError, AssertionError) on junk
        raise ValueError(f"undefined unit {expr!r} ({exc or type(exc).__name__})") from None


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


# Why a present cell is not a time (codes of ``ParsedTimes.problem``).
OK, NOT_A_TIME, A_NUMBER, OUTSIDE, IN_GAP = range(5)
# Compact digit forms of a date-time, by length.
_COMPACT = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
_NUMBER_TEXT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


class ParsedTimes(NamedTuple):
    """A time column as int64 ticks since the epoch (UTC), with why cells are not usable.

    ``problem`` is OK where the cell is a time inside the window (or missing), else
    NOT_A_TIME, A_NUMBER (a number without ``epoch: true``), OUTSIDE (outside the window) or
    IN_GAP (a local time skipped by a daylight-saving change).
    """
    ticks: np.ndarray
    missing: np.ndarray
    problem: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        return self.problem != OK


def _is_missing(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        cells = values.to_numpy(dtype=object)
        return np.asarray(pd.isna(cells), dtype=bool) | np.asarray(cells == "", dtype=bool)
    return np.array(values.isna().to_numpy(dtype=bool))


def parse_times(values: pd.Series, source: DateTimeUnit,
                target: DateTimeUnit | None = None) -> ParsedTimes:
    """Parse a column read in ``source`` to int64 ticks of ``target`` (default: ``source``).

    Numbers and digit strings are epoch counts of ``source.tick`` only when ``source.epoch``;
    otherwise the compact forms ``YYYYMMDD``, ``YYYYMMDDhhmm`` and ``YYYYMMDDhhmmss`` are
    date-times and any other number is A_NUMBER. Strings without an offset are in
    ``source.tz`` (daylight saving honoured; an ambiguous fall-back hour takes its first
    occurrence; a time in the spring-forward gap is IN_GAP); strings with an offset or ``Z``
    mean what they say. A time outside ``target.window`` is OUTSIDE, so nothing this returns as
    OK can overflow the stored int64 or fail to decode in xarray.
    """
    target = target or source
    values = pd.Series(values).reset_index(drop=True)
    n = len(values)
    missing = _is_missing(values)
    ns = np.zeros(n, dtype=np.int64)
    problem = np.zeros(n, dtype=np.int8)
    present = ~missing
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values
        if stamps.dt.tz is None:
            stamps = _localize(stamps, source)
        ok = present & stamps.notna().to_numpy()
        ns[ok] = _utc_ns(stamps[ok])
        problem[present & ~ok] = IN_GAP
    elif pd.api.types.is_bool_dtype(values.dtype):
        problem[present] = NOT_A_TIME
    else:
        _parse_cells(values, present, missing, ns, problem, source)
    lo, hi = target.window_ns()
    problem[(problem == OK) & ~missing & ((ns < lo) | (ns >= hi))] = OUTSIDE
    usable = (problem == OK) & ~missing
    ticks = np.zeros(n, dtype=np.int64)
    ticks[usable] = np.floor_divide(ns[usable], TICK_NS[target.tick])
    return ParsedTimes(ticks, missing, problem)


def _parse_cells(values: pd.Series, present: np.ndarray, missing: np.ndarray, ns: np.ndarray,
                 problem: np.ndarray, unit: DateTimeUnit) -> None:
    """Fill ``ns`` and ``problem`` for an object or numeric column (see ``parse_times``)."""
    cells = values.to_numpy(dtype=object)
    if values.dtype == object:
        kinds = np.array([_kind(c) for c in cells], dtype=object)
    else:
        is_text = pd.api.types.is_string_dtype(values.dtype)
        kinds = np.full(len(cells), "text" if is_text else "number", dtype=object)
    problem[present & (kinds == "other")] = NOT_A_TIME
    # pyarrow's kernels straight (the ones pandas' .str.strip / .str.match run on arrow strings):
    # pandas' own .str calls cost milliseconds per call, most of a one-row upload's parse
    text_rows = np.flatnonzero(present & (kinds == "text"))
    stripped = pc.utf8_trim_whitespace(pa.array(cells[text_rows], type=pa.large_string()))
    blank = pc.equal(stripped, "").to_numpy(zero_copy_only=False)
    missing[text_rows[blank]] = True
    numeric_text = pc.match_substring_regex(stripped, _NUMBER_TEXT.pattern
                                            ).to_numpy(zero_copy_only=False) & ~blank
    number_rows = np.concatenate([np.flatnonzero(present & (kinds == "number")),
                                  text_rows[numeric_text]])
    other = ~blank & ~numeric_text
    text = pd.Series(pd.array(stripped.filter(pa.array(other)), dtype="str"),
                     index=text_rows[other])
    if len(number_rows):
        numbers = pd.Series(cells[number_rows], dtype=object)
        if unit.epoch:
            ns[number_rows], problem[number_rows] = _epoch_ns(numbers, unit)
        else:
            compact = _compact_digits(numbers)
            problem[number_rows[compact.isna().to_numpy()]] = A_NUMBER
            compact = compact.dropna()
            if len(compact):
                rows = number_rows[compact.index.to_numpy()]
                ns[rows], problem[rows] = _compact_ns(compact, unit)
    if len(text):
        rows = text.index.to_numpy()
        ns[rows], problem[rows] = _parse_text(text, unit)


def _kind(cell) -> str:
    if isinstance(cell, (bool, np.bool_)):
        return "other"       # JSON true/false is not a time
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(cell, str):
        return "text"
    return "other"


def _epoch_ns(numbers: pd.Series, unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray]:
    """Epoch counts of ``unit.tick`` to ns; counts beyond the int64 range are OUTSIDE."""
    problem = np.zeros(len(numbers), dtype=np.int8)
    counts = pd.to_numeric(numbers, errors="coerce")
    as_float = counts.to_numpy(dtype=np.float64, na_value=np.nan)
    problem[~np.isfinite(as_float)] = NOT_A_TIME
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = as_float * TICK_NS[unit.tick]
    limit = float(np.iinfo(np.int64).max) / 2       # far beyond any window, safe to cast
    problem[(problem == OK) & (np.abs(scaled) >= limit)] = OUTSIDE
    ok = problem == OK
    ns = np.zeros(len(numbers), dtype=np.int64)
    if pd.api.types.is_integer_dtype(counts.dtype):    # exact: no trip through float
        ns[ok] = counts.to_numpy(dtype=np.int64)[ok] * TICK_NS[unit.tick]
    else:
        ns[ok] = np.round(scaled[ok]).astype(np.int64)
    return ns, problem


def _compact_digits(numbers: pd.Series) -> pd.Series:
    """Each cell as ``YYYYMMDD[hhmm[ss]]`` text, or None where it is no such digit form."""
    def digits(cell) -> str | None:
        if isinstance(cell, str):
            text = cell.strip()
        elif isinstance(cell, (float, np.floating)):
            text = f"{int(cell)}" if np.isfinite(cell) and cell == int(cell) and cell > 0 else ""
        else:
            text = str(int(cell))
        return text if text.isdigit() and len(text) in _COMPACT else None
    return numbers.map(digits)


def _compact_ns(compact: pd.Series, unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray]:
    ns = np.zeros(len(compact), dtype=np.int64)
    problem = np.zeros(len(compact), dtype=np.int8)
    lengths = compact.str.len().to_numpy()
    for length, fmt in _COMPACT.items():
        mask = lengths == length
        if mask.any():
            parsed = pd.to_datetime(compact[mask], format=fmt, errors="coerce")
            ns[mask], problem[mask] = _local_ns(parsed, compact[mask], unit)
    return ns, problem


def _local_ns(parsed: pd.Series, text: pd.Series,
              unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray]:
    """Naive local times to UTC ns; cells that did not parse are NOT_A_TIME or OUTSIDE."""
    parsed, problem = _outside_limits(parsed)
    _mark_far(problem, text)
    local = _localize(parsed, unit)
    problem[(problem == OK) & local.isna().to_numpy()] = IN_GAP
    ns = np.zeros(len(parsed), dtype=np.int64)
    ok = problem == OK
    ns[ok] = _utc_ns(local[ok])
    return ns, problem


def _outside_limits(parsed: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """NaT cells are NOT_A_TIME; years pandas parsed but ns cannot hold (0001) are OUTSIDE."""
    problem = np.where(parsed.isna().to_numpy(), NOT_A_TIME, OK).astype(np.int8)
    years = parsed.dt.year.to_numpy(dtype=np.float64, na_value=np.nan)
    far = (problem == OK) & ((years < WINDOW_LIMITS[0]) | (years > WINDOW_LIMITS[1]))
    if far.any():
        problem[far] = OUTSIDE
        parsed = parsed.where(~far)
    return parsed, problem


def _mark_far(problem: np.ndarray, text: pd.Series) -> None:
    """NOT_A_TIME cells that are date-times pandas cannot hold (year 0001, 9999) -> OUTSIDE."""
    for i in np.flatnonzero(problem == NOT_A_TIME):
        if _is_far_time(text.iloc[i]):
            problem[i] = OUTSIDE


def _is_far_time(text: str) -> bool:
    from dateutil import parser
    digits = str(text).strip()
    try:
        if digits.isdigit() and len(digits) in _COMPACT:
            year = datetime.strptime(digits, _COMPACT[len(digits)]).year
        else:
            year = parser.parse(digits).year
    except (ValueError, OverflowError, TypeError):
        return False
    return not WINDOW_LIMITS[0] <= year <= WINDOW_LIMITS[1]


def _utc_ns(stamps: pd.Series) -> np.ndarray:
    return (stamps.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
            .astype(np.int64).to_numpy())


def _localize(stamps: pd.Series, unit: DateTimeUnit) -> pd.Series:
    tz = parse_tz(unit.tz)
    return stamps.dt.tz_localize(tz, ambiguous=np.ones(len(stamps), dtype=bool),
                                 nonexistent="NaT")


def _to_datetime(text: pd.Series, unit: DateTimeUnit, utc: bool) -> pd.Series:
    kwargs = dict(dayfirst=unit.dayfirst, yearfirst=unit.yearfirst, errors="coerce", utc=utc)
    try:
        parsed = pd.to_datetime(text, **kwargs)
    except (ValueError, OverflowError):        # out-of-bounds years escape errors="coerce"
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]" if utc
                           else "datetime64[ns]")
    retry = parsed.isna()
    if retry.any():   # several formats in one upload: parse the rest one by one
        parsed = parsed.copy()
        try:
            parsed[retry] = pd.to_datetime(text[retry], format="mixed", **kwargs)
        except (ValueError, OverflowError):    # a far year among them: cell by cell
            for index in text.index[retry.to_numpy()]:
                try:
                    parsed[index] = pd.to_datetime(text[index], format="mixed", **kwargs)
                except (ValueError, OverflowError):
                    pass
    return parsed


def _parse_text(text: pd.Series, unit: DateTimeUnit) -> tuple[np.ndarray, np.ndarray]:
    ns = np.zeros(len(text), dtype=np.int64)
    problem = np.zeros(len(text), dtype=np.int8)
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
        if aware:
            parsed, why = _outside_limits(parsed)
            _mark_far(why, part)
            ok = why == OK
            out = np.zeros(len(part), dtype=np.int64)
            out[ok] = _utc_ns(parsed[ok])
        else:
            out, why = _local_ns(parsed, part, unit)
        ns[mask] = out
        problem[mask] = why
    return ns, problem


class _quiet:
    """Silence pandas' format-inference warnings; failures are reported per cell instead."""
    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
