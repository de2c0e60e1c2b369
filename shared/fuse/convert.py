"""From an upload table to validated, typed columns and coordinate keys (pure, no store).

``prepare_table`` converts every column the node knows to the storage type of its variable:
units converted (``source_unit -> unit``), times parsed to int64 ticks, ranges and discrete
labels checked. The first bad cell rejects the whole upload with a ``DataError`` naming the
1-based row, the input column and the value. Composed coordinate keys are computed here from
the component values (``composed_keys``), the same in every process and on every machine.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from . import units
from .errors import DataError
from .schema import NodeSchema, VarSchema

INT_FILL = np.iinfo(np.int64).min
_INTEGER_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
RANGE_TOLERANCE = 1e-9     # relative, on both bounds of an interval (SCHEMA.md section 1)
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


@dataclass
class Column:
    """One variable's converted values; ``valid`` is False where the upload had no value."""
    values: np.ndarray
    valid: np.ndarray


@dataclass
class PreparedTable:
    """An upload converted for one node: coordinate keys per row and columns per variable."""
    node_path: str
    n_rows: int
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    columns: dict[str, Column] = field(default_factory=dict)
    source_rows: np.ndarray | None = None   # 1-based row numbers in the upload(s)

    @staticmethod
    def concat(tables: list["PreparedTable"]) -> "PreparedTable":
        """Tables in acceptance order as one table (later rows win, as if merged one by one)."""
        if len(tables) == 1:
            return tables[0]
        out = PreparedTable(tables[0].node_path, sum(t.n_rows for t in tables))
        for dim in tables[0].keys:
            out.keys[dim] = np.concatenate([t.keys[dim] for t in tables])
        names = [n for t in tables for n in t.columns]
        for name in dict.fromkeys(names):
            parts_v, parts_m = [], []
            template = next(t.columns[name] for t in tables if name in t.columns)
            for t in tables:
                col = t.columns.get(name)
                if col is None:
                    col = Column(np.zeros(t.n_rows, dtype=template.values.dtype),
                                 np.zeros(t.n_rows, dtype=bool))
                parts_v.append(col.values)
                parts_m.append(col.valid)
            out.columns[name] = Column(np.concatenate(parts_v), np.concatenate(parts_m))
        out.source_rows = np.concatenate([t.rows() for t in tables])
        return out

    def rows(self) -> np.ndarray:
        if self.source_rows is not None:
            return self.source_rows
        return np.arange(1, self.n_rows + 1)


def prepare_table(schema: NodeSchema, table: pd.DataFrame) -> PreparedTable:
    """Convert and validate ``table`` for the node ``schema``; raises DataError."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"an upload must be a table (pandas DataFrame), not {type(table).__name__}")
    table = table.reset_index(drop=True)
    if len(set(table.columns)) != len(table.columns):
        dup = [c for c in table.columns if list(table.columns).count(c) > 1][0]
        raise DataError(f"column {dup!r} appears twice in the upload", column=str(dup))
    for col in schema.required_columns():
        if col not in table.columns:
            raise DataError(f"missing column {col!r}: every upload to node "
                            f"{schema.path or '/'!r} needs {', '.join(schema.required_columns())}",
                            column=col)
    prepared = PreparedTable(schema.path, len(table))
    for name, var in schema.vars.items():
        if var.df_col in table.columns:
            prepared.columns[name] = convert_column(var, table[var.df_col])
    for name, coord in schema.coords.items():
        if coord.composed:
            parts = [prepared.columns[c] for c in coord.composed]
            for comp, part in zip(coord.composed, parts):
                _require(part, schema.vars[comp].df_col, table[schema.vars[comp].df_col], name)
            prepared.keys[name] = composed_keys([p.values for p in parts])
        else:
            col = convert_column(coord, table[coord.df_col])
            _require(col, coord.df_col, table[coord.df_col], name)
            prepared.keys[name] = col.values
    return prepared


def _require(col: Column, column: str, raw: pd.Series, coord: str) -> None:
    if not col.valid.all():
        row = int(np.argmin(col.valid))
        raise DataError(f"row {row + 1}, column {column}: empty, but coordinate {coord!r} "
                        f"needs a value in every row", row=row + 1, column=column,
                        value=_show(raw.iloc[row]))


def _show(value) -> object:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _fail(raw: pd.Series, bad: np.ndarray, column: str, problem: str) -> DataError:
    row = int(np.argmax(bad))
    value = raw.iloc[row]
    return DataError(f"row {row + 1}, column {column}: {value!r} {problem}",
                     row=row + 1, column=column, value=_show(value))


def _is_blank(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and value != value


def _missing(raw: pd.Series, var: VarSchema) -> np.ndarray:
    """Empty cells, and cells holding the variable's ``na_value`` literal.

    Cells of blanks only are found later, where a value fails to convert (cheaper on big tables).
    """
    literal = var.na_value not in (None, "nan", "max_int", "min_int")
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        cells = raw.to_numpy(dtype=object)
        missing = np.asarray(pd.isna(cells), dtype=bool) | np.asarray(cells == "", dtype=bool)
        if literal:
            text = str(var.na_value)
            missing |= _per_unique(cells, lambda v: str(v).strip() == text, bool)
        return missing
    missing = np.array(raw.isna().to_numpy(dtype=bool))
    if literal and not isinstance(var.na_value, str):
        missing |= (raw == var.na_value).to_numpy(dtype=bool)
    return missing


def _per_unique(cells: np.ndarray, fn, dtype) -> np.ndarray:
    """``fn`` applied to each distinct cell once (uploads repeat ids and labels a lot)."""
    codes, uniques = pd.factorize(cells, use_na_sentinel=False)
    results = np.array([fn(u) for u in uniques], dtype=dtype)
    return results[codes] if len(uniques) else np.zeros(len(cells), dtype=dtype)


def convert_column(var: VarSchema, raw: pd.Series) -> Column:
    """Convert one input column to ``var``'s storage type, validating every present cell."""
    raw = raw.reset_index(drop=True)
    column = var.df_col
    if var.is_time or var.dtype.startswith("datetime64"):
        return _times(var, raw)
    kind = var.dtype
    if kind.startswith("str"):     # one pass over distinct cells finds blanks and strips
        cells = raw.to_numpy(dtype=object)
        values = _per_unique(cells, lambda v: "" if _is_blank(v) else str(v).strip(), object)
        valid = values != ""
        if var.na_value not in (None, "nan", "max_int", "min_int"):
            valid &= values != str(var.na_value)
        if kind != "str":
            width = int(kind[4:-1])
            bad = valid & (np.fromiter((len(v) for v in values), int, len(values)) > width)
            if bad.any():
                raise _fail(raw, bad, column, f"is longer than {width} characters")
        _check_range(var, raw, values, valid, column)
        return Column(values, valid)
    valid = ~_missing(raw, var)
    if kind == "bool":
        values = _booleans(raw, valid, column)
    elif kind.startswith("complex"):
        values = np.zeros(len(raw), dtype=kind)
        for i in np.flatnonzero(valid):
            try:
                values[i] = complex(str(raw.iloc[i]).replace(" ", ""))
            except ValueError:
                raise _fail(raw, np.arange(len(raw)) == i, column, "is not a complex number") from None
    else:
        numbers = _numbers(raw, valid, column)
        na_number = _na_number(var)
        if na_number is not None:     # by value: "-999", "-999.0" and JSON -999.0 alike
            valid = valid & (numbers != na_number)
        if data_decides_type(var) and _whole_numbers(raw, numbers, valid):
            kind = "int64"        # no type, no unit: integers stay int64, as in zarr-fuse
        if kind.startswith("float"):
            fn = units.converter(var.source_unit, var.unit) if isinstance(var.unit, str) else None
            if fn is not None and valid.any():
                numbers = numbers.copy()
                numbers[valid] = fn(numbers[valid])
            _check_infinite(var, raw, numbers, valid)
            with np.errstate(over="ignore"):
                values = numbers.astype(kind)
            overflow = valid & np.isinf(values) & ~np.isinf(numbers)
            if overflow.any():
                raise _fail(raw, overflow, column, f"does not fit in {kind} (largest "
                                                   f"{np.finfo(kind).max:g}); it would be stored as inf")
        else:
            _check_infinite(var, raw, numbers, valid)   # the cause, before "not an integer"
            values = _integers(raw, numbers, valid, kind, column)
    _check_range(var, raw, values, valid, column)
    return Column(values, valid)


EXACT_IN_FLOAT64 = 2.0 ** 53  # beyond this, float64 no longer holds every integer


def _integers(raw: pd.Series, numbers: np.ndarray, valid: np.ndarray, kind: str, column: str) -> np.ndarray:
    """The cells as integers of ``kind``, exactly: large ones are read again from their text,
    never rounded through float64 (9223372036854775807 stays itself, one more is an error)."""
    info = np.iinfo(kind)
    bad = valid & (numbers != np.round(numbers))
    large = valid & ~bad & (np.abs(numbers) >= EXACT_IN_FLOAT64)
    small = valid & ~bad & ~large
    bad |= small & ((numbers < info.min) | (numbers > info.max))
    values = np.zeros(len(raw), dtype=kind)
    ok = small & ~bad
    values[ok] = numbers[ok].astype(kind)
    for i in np.flatnonzero(large):
        exact = _exact_integer(raw.iloc[i])
        if exact is None or not info.min <= exact <= info.max:
            bad[i] = True
        else:
            values[i] = exact
    if bad.any():
        raise _fail(raw, bad, column, f"is not an integer of type {kind}")
    return values


def _exact_integer(cell: object) -> int | None:
    if isinstance(cell, (int, np.integer)) and not isinstance(cell, (bool, np.bool_)):
        return int(cell)
    text = str(cell).strip()
    try:
        return int(text)
    except ValueError:  # "9.3e18", "1e400", or more digits than int() reads
        pass
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def _na_number(var: VarSchema) -> float | None:
    """A numeric ``na_value`` literal as a number (compared after the cell is typed)."""
    if var.na_value in (None, "nan", "max_int", "min_int") or isinstance(var.na_value, bool):
        return None
    try:
        return float(var.na_value)
    except (TypeError, ValueError):
        return None


def _times(var: VarSchema, raw: pd.Series) -> Column:
    """Parse a time column: read as its ``source_unit`` says, checked against its ``window``."""
    unit = var.unit if var.is_time else units.DateTimeUnit(tick=var.dtype[11:-1])
    source = var.source_unit if isinstance(var.source_unit, units.DateTimeUnit) else unit
    parsed = units.parse_times(raw, source, unit)
    if parsed.bad.any():
        row = int(np.argmax(parsed.bad))
        first, last = unit.window
        why = {units.NOT_A_TIME: "is not a time",
               units.A_NUMBER: "is a number, not a time (numbers are epoch counts only where "
                               "the source_unit says epoch: true; digit forms are YYYYMMDD, "
                               "YYYYMMDDhhmm or YYYYMMDDhhmmss)",
               units.OUTSIDE: f"is outside the time window [{first}, {last}] of {var.name} "
                              f"(years; set window: in its unit to widen it)",
               units.IN_GAP: f"does not exist in {source.tz} (skipped when clocks go forward)",
               }[int(parsed.problem[row])]
        raise _fail(raw, np.arange(len(raw)) == row, var.df_col, why)
    valid = ~parsed.missing
    return Column(np.where(valid, parsed.ticks, INT_FILL), valid)


def _check_infinite(var: VarSchema, raw: pd.Series, numbers: np.ndarray, valid: np.ndarray) -> None:
    """inf/-inf (``1e400``, ``Infinity``, ``"inf"``) only where the range has that bound."""
    rng = var.range
    allowed_hi = rng is not None and rng.labels is None and rng.hi == math.inf
    allowed_lo = rng is not None and rng.labels is None and rng.lo == -math.inf
    bad = valid & (((numbers == math.inf) & ~allowed_hi) | ((numbers == -math.inf) & ~allowed_lo))
    if bad.any():
        raise _fail(raw, bad, var.df_col, "is infinite; only a range with an infinite bound "
                                          "(such as interval: [0, .inf]) allows it")


def data_decides_type(var: VarSchema) -> bool:
    """No type and no unit: the variable keeps the type of its data (ints stay int64), as in
    zarr-fuse; a stored array's dtype decides once there is one. An infinite range bound
    says the values are floats."""
    infinite = var.range is not None and var.range.labels is None and \
        math.inf in (abs(var.range.lo), abs(var.range.hi))
    return var.type is None and var.unit is None and var.dtype == "float64" and \
        not getattr(var, "composed", ()) and not infinite


def _whole_numbers(raw: pd.Series, numbers: np.ndarray, valid: np.ndarray) -> bool:
    """Integers as the data gives them: an integer column, or integer text ("12", not "12.0")."""
    if not valid.any():
        return False
    if pd.api.types.is_integer_dtype(raw.dtype):
        return True
    if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
        return False
    cells = raw.to_numpy(dtype=object)[valid]
    return bool(_per_unique(cells, lambda v: isinstance(v, (int, np.integer)) and
                            not isinstance(v, bool) or
                            isinstance(v, str) and _INTEGER_TEXT.match(v) is not None,
                            bool).all())


def _numbers(raw: pd.Series, valid: np.ndarray, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(raw.dtype):
        if valid.any():
            raise _fail(raw, valid, column, "is true/false, not a number")
        return np.full(len(raw), np.nan)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        numbers = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        cells = raw.to_numpy(dtype=object).copy()
        flags = valid & np.fromiter((isinstance(c, (bool, np.bool_)) for c in cells), bool,
                                    len(cells))
        if flags.any():           # JSON true/false would silently become 1.0/0.0
            raise _fail(raw, flags, column, "is true/false, not a number")
        cells[~valid] = np.nan
        try:                  # numpy parses number strings itself, much faster than pandas
            numbers = cells.astype(np.float64)
        except (ValueError, TypeError):
            numbers = pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan)
    bad = valid & np.isnan(numbers)
    if bad.any():   # blanks and a literal "nan" are missing values, anything else is an error
        text = raw[bad].astype(str).str.strip().str.lower()
        really = text.isin(["", "nan", "na", "null", "none"]).to_numpy()
        valid[np.flatnonzero(bad)[really]] = False
        bad = valid & np.isnan(numbers)
        if bad.any():
            raise _fail(raw, bad, column, "is not a number")
    return numbers


def _booleans(raw: pd.Series, valid: np.ndarray, column: str) -> np.ndarray:
    text = _per_unique(raw.to_numpy(dtype=object), lambda v: str(v).strip().lower(), object)
    truthy = np.isin(text, list(_TRUE))
    falsy = np.isin(text, list(_FALSE))
    valid &= text != ""
    bad = valid & ~truthy & ~falsy
    if bad.any():
        raise _fail(raw, bad, column, "is not true or false")
    return truthy


def _check_range(var: VarSchema, raw: pd.Series, values: np.ndarray, valid: np.ndarray,
                 column: str) -> None:
    rng = var.range
    if rng is None:
        return
    if rng.labels is not None:
        labels = pd.Series(list(rng.labels))
        if values.dtype.kind in "OUT":
            labels = labels.astype(str)
        bad = valid & ~pd.Series(values).isin(labels).to_numpy()
        if bad.any():
            raise _fail(raw, bad, column, f"is not one of {list(rng.labels)}")
        return
    if values.dtype.kind not in "iuf":
        return
    # inclusive, with a relative tolerance: 140 degF converts to 60.00000000000001 degC
    lo = rng.lo - RANGE_TOLERANCE * abs(rng.lo)
    hi = rng.hi + RANGE_TOLERANCE * abs(rng.hi)
    with np.errstate(invalid="ignore"):
        bad = valid & ((values < lo) | (values > hi))
    if bad.any():
        shown = f" ({values[np.argmax(bad)]:g} {var.unit})" if var.source_unit else ""
        raise _fail(raw, bad, column,
                    f"is outside the range [{rng.lo:g}, {rng.hi:g}] of {var.name}{shown}")


def composed_keys(components: list[np.ndarray]) -> np.ndarray:
    """int64 keys from component value tuples, the same in every process (rule 4.8).

    All-numeric tuples get Python's ``hash()`` of the tuple, which is what zarr-fuse writes and
    is stable for numbers; tuples with text get a blake2b digest, since ``hash()`` of text
    changes with every process. Stored entries are found by their component values, never by
    the key alone (node.py), so keys made either way (or by version 1) are extended alike.
    """
    n = len(components[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame({i: c for i, c in enumerate(components)})
    codes, uniques = pd.MultiIndex.from_frame(frame).factorize()
    numeric = all(c.dtype.kind in "iuf" for c in components)
    key = _numeric_key if numeric else _text_key
    keys = np.fromiter((key(tuple_) for tuple_ in uniques), dtype=np.int64, count=len(uniques))
    return keys[codes]


def _numeric_key(values: tuple) -> int:
    return hash(tuple(v.item() if isinstance(v, np.generic) else v for v in values))


def _canonical(value) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return repr(0.0 if value == 0 else value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _text_key(values: tuple) -> int:
    text = "\x1f".join(_canonical(v) for v in values).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little", signed=True)
