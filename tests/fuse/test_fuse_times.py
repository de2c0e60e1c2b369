"""SCHEMA.md section 2: epoch counts only with ``epoch: true``, compact digit forms, the time
window; one upload can never put a time into a store that xarray cannot decode."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from shared.fuse import DataError, SchemaError, load_schema, open_store
from shared.fuse.convert import convert_column
from shared.fuse.units import A_NUMBER, OK, OUTSIDE, DateTimeUnit, parse_times

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "30"))


def time_schema(attrs: dict, unit: dict, source_unit: dict | None = None) -> dict:
    time = {"unit": unit, "chunk_size": 4}
    if source_unit is not None:
        time["source_unit"] = source_unit
    return {"ATTRS": attrs, "COORDS": {"time": time},
            "VARS": {"v": {"coords": ["time"], "type": "float64"}}}


def time_var(**unit):
    return load_schema({"VARS": {"x": {"coords": "t", "unit": unit}}}).node_schema("").vars["x"]


def col(*values):
    return pd.Series(list(values), dtype=object)


def stored_times(backend) -> list[str]:
    ds = backend.open_xarray("store.zarr", None).load()
    return [str(t)[:19] for t in ds["time"].values]


@pytest.mark.parametrize("value", ["20260301120000", 20260301120000, "202603011200", "20260301"])
def test_compact_digits_are_a_date_time_and_the_store_still_opens(local, value):
    node = open_store(time_schema(local.attrs(), {"tick": "s"}), environ=local.environ)
    node.update(pd.DataFrame({"time": [value], "v": [1.0]}, dtype=object))
    expected = {8: "2026-03-01T00:00:00"}.get(len(str(value)), f"2026-03-01T12:00:00")
    assert stored_times(local) == [expected]


@pytest.mark.parametrize("value", [1_700_000_000_123, "1700000000123", 1.7e9, "1700000000"])
def test_a_number_without_epoch_true_is_a_data_error_and_nothing_is_written(local, value):
    node = open_store(time_schema(local.attrs(), {"tick": "s"}), environ=local.environ)
    node.update(pd.DataFrame({"time": ["2026-01-01T00:00Z"], "v": [1.0]}))
    with pytest.raises(DataError, match=r"row 2, column time: .* is a number, not a time") as info:
        node.update(pd.DataFrame({"time": ["2026-01-02T00:00Z", value], "v": [2.0, 3.0]},
                                 dtype=object))
    assert (info.value.row, info.value.column) == (2, "time")
    assert stored_times(local) == ["2026-01-01T00:00:00"]


def test_epoch_milliseconds_are_read_where_the_source_unit_says_so(local):
    schema = time_schema(local.attrs(), {"tick": "s"}, {"tick": "ms", "epoch": True})
    node = open_store(schema, environ=local.environ)
    node.update(pd.DataFrame({"time": [1_700_000_000_123, "1700000060000"], "v": [1.0, 2.0]},
                             dtype=object))
    assert stored_times(local) == ["2023-11-14T22:13:20", "2023-11-14T22:14:20"]


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31T23:59:59Z", "1899-12-31T23:59",
                                   "2201-01-01", "99991231", "00010101000000"])
def test_a_time_outside_the_window_is_a_data_error_naming_row_column_and_value(local, value):
    node = open_store(time_schema(local.attrs(), {"tick": "s"}), environ=local.environ)
    with pytest.raises(DataError, match=r"row 1, column time: .* is outside the time window "
                                        r"\[1900, 2200\]") as info:
        node.update(pd.DataFrame({"time": [value], "v": [1.0]}))
    assert info.value.value == value


@pytest.mark.parametrize("count", [1e30, 2**62, -(2**62), 10**19])
def test_a_far_epoch_count_is_a_data_error_not_an_overflow(count):
    with pytest.raises(DataError, match=r"row 1, column x: .* is outside the time window"):
        convert_column(time_var(tick="ms", epoch=True), col(count))


def test_the_window_is_settable_in_the_date_time_unit(local):
    schema = time_schema(local.attrs(), {"tick": "s", "window": [1800, 2100]})
    node = open_store(schema, environ=local.environ)
    node.update(pd.DataFrame({"time": ["1850-06-01"], "v": [1.0]}))
    assert stored_times(local) == ["1850-06-01T00:00:00"]
    with pytest.raises(DataError, match=r"outside the time window \[1800, 2100\] of time"):
        node.update(pd.DataFrame({"time": ["2150-01-01"], "v": [1.0]}))
    assert "window" not in str(local.open_xarray("store.zarr", None).attrs.get("__structure__"))


@pytest.mark.parametrize("unit, message", [
    ({"tick": "s", "window": [2200, 1900]}, r"COORDS/time/unit: window: \[2200, 1900\] must be ascending"),
    ({"tick": "s", "window": [1, 9999]}, r"window: \[1, 9999\] must be ascending years within 1678..2261"),
    ({"tick": "s", "window": "1900-2200"}, r"window: must be \[first year, last year\]"),
    ({"tick": "s", "epoch": "yes"}, r"epoch: must be true or false"),
])
def test_a_bad_window_or_epoch_is_refused_at_load(unit, message):
    with pytest.raises(SchemaError, match=message):
        load_schema({"COORDS": {"time": {"unit": unit}}})


def test_json_true_is_not_a_time():
    with pytest.raises(DataError, match=r"row 1, column x: True is not a time"):
        convert_column(time_var(tick="s", epoch=True), col(True))


# --- properties against a plain-Python model -------------------------------------------------

_UTC = timezone.utc
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def model_window(moment: datetime, window=(1900, 2200)) -> bool:
    return window[0] <= moment.year <= window[1]


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(moment=moments, form=st.sampled_from(["%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y-%m-%dT%H:%M:%SZ"]))
def test_digit_and_iso_forms_match_the_calendar_model(moment, form):
    moment = moment.replace(microsecond=0, second=0 if form == "%Y%m%d%H%M" else moment.second)
    text = f"{moment.year:04d}" + moment.strftime(form)[len(moment.strftime("%Y")):]
    parsed = parse_times(col(text), DateTimeUnit(tick="s"))
    if model_window(moment):
        expected = (moment.replace(tzinfo=_UTC) - datetime(1970, 1, 1, tzinfo=_UTC)) // timedelta(seconds=1)
        assert parsed.problem[0] == OK and parsed.ticks[0] == expected
    else:
        assert parsed.problem[0] == OUTSIDE


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(count=st.integers(min_value=-(2**70), max_value=2**70), epoch=st.booleans())
def test_integer_counts_match_the_epoch_model(count, epoch):
    parsed = parse_times(col(count), DateTimeUnit(tick="ms", epoch=epoch), DateTimeUnit(tick="s"))
    if not epoch:
        digits = str(count)
        compact = digits.isdigit() and len(digits) in (8, 12, 14)
        assert compact or parsed.problem[0] == A_NUMBER
        return
    try:
        moment = datetime(1970, 1, 1, tzinfo=_UTC) + timedelta(milliseconds=count)
    except OverflowError:
        moment = None
    if moment is not None and model_window(moment):
        assert parsed.problem[0] == OK and parsed.ticks[0] == count // 1000
    else:
        assert parsed.problem[0] == OUTSIDE
    assert np.iinfo(np.int64).min < parsed.ticks[0] < np.iinfo(np.int64).max
