"""The values of a schema entry: units, date-time units, types, ranges, missing values and step
limits, each checked against what the rest of the entry says (SCHEMA.md section 1).

``ValueChecks`` is the half of the loader that looks at one value at a time; the loader
(``schema_loader``) walks the tree, finds the entries and puts them together.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from . import units
from .schema import Range
from .schema_keys import (BOOL_UNITS, DATETIME_KEYS, RANGE_KINDS, STEP_LIMIT_WORDS, TYPE_ALIASES,
                          TYPES, closest, near_miss)
from .units import DateTimeUnit

_STR_N = re.compile(r"^str\[(\d+)\]$")
_DATETIME64 = re.compile(r"^datetime64\[(\w+)\]$")
_EMPTY = (None, "", "None", "none", "null")   # `sorted:`, `sorted: None`: the default


class EntryFault(Exception):
    """One error in one entry; caught per entry so that the other entries are still checked."""

    def __init__(self, where: list[str], message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class ValueChecks:
    """Checks of single values; the loader provides ``warn`` and ``check_keys``."""

    def fail(self, where: list[str], message: str) -> EntryFault:
        return EntryFault(where, message)

    def step_limits(self, value: Any, unit: Any, where: list[str]) -> Any:
        if is_empty(value):
            return "any_new"
        if isinstance(value, str) and value in STEP_LIMIT_WORDS:
            return value
        if not isinstance(value, list) or len(value) != 3:
            raise self.fail(where, f"must be any_new, no_new or [min, max, unit], not {value!r}")
        low, high, step_unit = value
        if not all(_is_number(b) for b in (low, high)) or low > high:
            raise self.fail(where, f"[min, max, unit] needs numbers min <= max, not {low!r}, {high!r}")
        if isinstance(unit, DateTimeUnit):
            if step_unit not in tuple(units.TICKS):
                raise self.fail(where, f"unit {step_unit!r} of a time step must be a tick "
                                       f"({', '.join(units.TICKS)})")
        else:
            try:
                units.parse_unit(step_unit)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None
        self.warn(where, f"{value!r} is kept as an attribute; values are stored at their true "
                         f"coordinates, never resampled")
        return list(value)

    def check_source_unit(self, unit: Any, source_unit: Any, where: list[str]) -> None:
        if source_unit is None:
            return
        if unit is None:
            self.warn(where, "ignored: the variable has no unit to convert to")
        elif isinstance(unit, DateTimeUnit) and not isinstance(source_unit, DateTimeUnit):
            raise self.fail(where, f"a physical unit {source_unit!r} for a date-time variable")
        elif isinstance(unit, str):
            if isinstance(source_unit, DateTimeUnit):
                raise self.fail(where, "a date-time unit for a physical variable")
            try:
                units.check_convertible(source_unit, unit)
            except ValueError as exc:
                raise self.fail(where, str(exc)) from None

    def unit(self, value: Any, where: list[str]) -> tuple[str | DateTimeUnit | None, bool]:
        """The unit, and whether it is zarr-fuse's ``bool``/``boolean`` (no physical unit)."""
        if value is None:
            return None, False
        if isinstance(value, Mapping):
            return self.datetime_unit(value, where), False
        if not isinstance(value, str):
            raise self.fail(where, f"must be a unit expression or a date-time mapping, not {value!r}")
        if value.strip().lower() in BOOL_UNITS:
            return None, True
        try:
            units.parse_unit(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None
        return value, False

    def datetime_unit(self, value: Mapping, where: list[str]) -> DateTimeUnit:
        self.check_keys(value, where, DATETIME_KEYS, loose=True)
        try:
            unit = DateTimeUnit(**{k: value[k] for k in DATETIME_KEYS if value.get(k) is not None})
        except ValueError as exc:  # "window: ..." / "epoch: ..."
            raise self.fail(where, str(exc)) from None
        if not isinstance(unit.tick, str) or unit.tick not in units.TICKS:
            raise self.fail(where + ["tick"], f"unknown tick {unit.tick!r} (one of "
                                              f"{', '.join(units.TICKS)}; a tick is one unit, "
                                              f"not a step such as 15m)")
        if not isinstance(unit.tz, str):
            raise self.fail(where + ["tz"], f"must be a zone name or offset, not {unit.tz!r}")
        try:
            units.parse_tz(unit.tz)
        except ValueError as exc:
            raise self.fail(where + ["tz"], str(exc)) from None
        for key in ("dayfirst", "yearfirst"):
            if not isinstance(getattr(unit, key), bool):
                raise self.fail(where + [key], "must be true or false")
        return unit

    def dtype(self, declared: Any, unit: Any, composed: tuple, rng: Any, where: list[str]) -> str:
        if declared is None:
            if composed:
                return "int64"
            if isinstance(unit, DateTimeUnit):
                return f"datetime64[{unit.tick}]"
            if unit is None and isinstance(rng, Mapping) and "discrete" in rng:
                return "str"
            return "float64"
        if not isinstance(declared, str):
            raise self.fail(where, f"must be a type name, not {declared!r}")
        if declared in TYPES:
            return TYPE_ALIASES.get(declared, declared)
        width = _STR_N.match(declared)
        if width:
            if int(width.group(1)) < 1:
                raise self.fail(where, f"{declared!r}: a fixed-width string needs a width of 1 or more")
            return declared
        match = _DATETIME64.match(declared)
        if match and match.group(1) in units.TICKS:
            return declared
        hint = closest(declared, TYPES)
        raise self.fail(where, f"unknown type {declared!r}" + (f", did you mean {hint!r}?" if hint else ""))

    def range(self, value: Any, unit: Any, dtype: str, where: list[str]) -> Range | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            raise self.fail(where, "must be {interval: [lo, hi]}, {interval: [lo, hi, unit]} or {discrete: [...]}")
        (kind, spec), = value.items()
        if kind == "discrete":
            if not isinstance(spec, list) or not spec or \
                    not all(isinstance(label, (str, int, float)) for label in spec):
                raise self.fail(where + ["discrete"], "must be a non-empty list of labels")
            return Range(labels=tuple(spec))
        if kind != "interval":
            typo = near_miss(kind, RANGE_KINDS) or closest(kind, RANGE_KINDS)
            raise self.fail(where + [str(kind)], "unknown key" + (f", did you mean {typo!r}?" if typo else ""))
        if not isinstance(spec, list) or len(spec) not in (2, 3):
            raise self.fail(where + ["interval"], "must be [lo, hi] or [lo, hi, unit]")
        if not is_numeric(dtype) or dtype == "bool":
            raise self.fail(where + ["interval"], f"an interval needs a numeric type, not {dtype}")
        lo, hi = spec[0], spec[1]
        if not all(_is_number(b) for b in (lo, hi)):
            raise self.fail(where + ["interval"], f"bounds must be numbers, not {lo!r}, {hi!r}")
        if lo > hi:
            raise self.fail(where + ["interval"], f"lower bound {lo} is above upper bound {hi}")
        own = unit if isinstance(unit, str) else None
        bound_unit = spec[2] if len(spec) == 3 else own
        if len(spec) == 3:
            try:
                units.parse_unit(bound_unit)
                if own is not None:
                    units.check_convertible(bound_unit, own)
                    lo, hi = (units.convert_scalar(b, bound_unit, own) for b in (lo, hi))
                    bound_unit = own
            except ValueError as exc:
                raise self.fail(where + ["interval"], str(exc)) from None
        return Range(lo=float(lo), hi=float(hi), unit=bound_unit)

    def na_value(self, value: Any, dtype: str, where: list[str]) -> Any:
        if value is None:
            return None
        if isinstance(value, float) and math.isnan(value):
            value = "nan"
        if isinstance(value, str) and value in ("nan", "max_int", "min_int"):
            if value == "nan" and not dtype.startswith(("float", "complex")):
                raise self.fail(where, f"nan is not a value of type {dtype}")
            if value != "nan" and not dtype.startswith(("int", "uint")):
                raise self.fail(where, f"{value} needs an integer type, not {dtype}")
            return value
        if not isinstance(value, (int, float, str, bool)):
            raise self.fail(where, f"must be nan, max_int, min_int or a literal, not {value!r}")
        if not _fits(value, dtype):
            raise self.fail(where, f"{value!r} is not a value of type {dtype}")
        return value


def is_empty(value: Any) -> bool:
    """``sorted:``, ``sorted: None``, ``sorted: []``: a key left empty means its default."""
    return value in _EMPTY or (isinstance(value, (list, dict)) and not value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not \
        (isinstance(value, float) and math.isnan(value))


def is_numeric(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float", "complex", "bool"))


def _integer_range(dtype: str) -> tuple[int, int]:
    """The values of an integer type (int8 ... uint64), as numpy's iinfo has them."""
    bits = int(dtype.lstrip("uint"))
    return (0, 2**bits - 1) if dtype.startswith("u") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _fits(value: Any, dtype: str) -> bool:
    """Whether an ``na_value`` literal is a value of the variable's type (``-999`` of int8 is not)."""
    if dtype.startswith(("str", "datetime64")):
        return not isinstance(value, bool)
    if dtype == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except ValueError:
        return False
    if dtype.startswith(("float", "complex")):
        return True
    if not math.isfinite(number) or number != int(number):
        return False
    try:               # exactly, not through a float: 2**63 - 1 is the top of an int64
        whole = int(value) if not isinstance(value, float) else int(number)
    except ValueError:
        whole = int(number)
    low, high = _integer_range(dtype)
    return low <= whole <= high
