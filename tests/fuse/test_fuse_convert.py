"""SCHEMA.md section 2 and rule 6: units, times, types, na_value and range, without a store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.fuse import DataError, load_schema
from shared.fuse.convert import convert_column, prepare_table
from shared.fuse.units import DateTimeUnit, parse_times


def var(**spec):
    spec.setdefault("coords", "t")
    return load_schema({"VARS": {"x": spec}}).node_schema("").vars["x"]


def col(*values):
    return pd.Series(["" if v is None else v for v in values], dtype=object)


def seconds(text: str) -> int:
    return int(pd.Timestamp(text).value // 10**9)


def test_source_unit_values_are_converted_to_the_unit():
    out = convert_column(var(unit="degC", source_unit="degF"), col("32", "212", None))
    assert out.values[:2] == pytest.approx([0, 100]) and out.valid.tolist() == [True, True, False]
    assert convert_column(var(unit="m", source_unit="cm"), col("412.5")).values[0] == 4.125


@pytest.mark.parametrize("tz, text, utc", [
    ("UTC", "2026-11-03 08:00", "2026-11-03T08:00"),
    ("Europe/Prague", "2026-01-15 12:00", "2026-01-15T11:00"),      # winter: +01:00
    ("Europe/Prague", "2026-07-15 12:00", "2026-07-15T10:00"),      # summer: +02:00 (fix)
    ("+01:00", "2026-07-15 12:00", "2026-07-15T11:00"),
    ("-05:30", "2026-07-15 12:00", "2026-07-15T17:30"),
    ("CET", "2026-07-15 12:00", "2026-07-15T11:00"),                # an abbreviation is fixed
    ("Europe/Prague", "2026-07-15T12:00:00Z", "2026-07-15T12:00"),  # Z means UTC
    ("Europe/Prague", "2026-07-15T12:00:00+03:00", "2026-07-15T09:00"),
])
def test_times_are_read_in_the_source_zone_and_stored_as_utc(tz, text, utc):
    ticks, missing, bad = parse_times(col(text), DateTimeUnit(tick="ms", tz=tz))
    assert not bad.any() and not missing.any()
    assert ticks[0] == pd.Timestamp(utc).value // 10**6


def test_dayfirst_and_yearfirst_decide_ambiguous_dates():
    day = parse_times(col("03/11/2026 08:00"), DateTimeUnit(tick="s", dayfirst=True))[0][0]
    month = parse_times(col("03/11/2026 08:00"), DateTimeUnit(tick="s"))[0][0]
    assert day == seconds("2026-11-03 08:00") and month == seconds("2026-03-11 08:00")


@pytest.mark.parametrize("text, utc", [("1784109600", "2026-07-15T10:00"),
                                       ("1784109600.5", "2026-07-15T10:00:00.5")])
def test_epoch_seconds_are_read_where_the_source_unit_says_epoch(text, utc):
    ticks, missing, bad = parse_times(col(text), DateTimeUnit(tick="s", tz="Europe/Prague",
                                                              epoch=True), DateTimeUnit(tick="ms"))
    assert not bad.any() and not missing.any()
    assert ticks[0] == pd.Timestamp(utc).value // 10**6


def test_numbers_in_a_numeric_column_are_epoch_counts_of_the_source_tick():
    ticks = parse_times(pd.Series([0, 86400]), DateTimeUnit(tick="s", epoch=True),
                        DateTimeUnit(tick="h"))[0]
    assert ticks.tolist() == [0, 24]


def test_a_time_in_the_spring_forward_gap_is_a_data_error():
    with pytest.raises(DataError, match=r"row 2, column x: '2026-03-29 02:30' does not exist in Europe/Prague"):
        convert_column(var(unit={"tick": "s", "tz": "Europe/Prague"}),
                       col("2026-03-29 01:30", "2026-03-29 02:30"))


@pytest.mark.parametrize("spec, values, message", [
    ({"unit": "degC"}, ("1", "n/a"), r"row 2, column x: 'n/a' is not a number"),
    ({"unit": "degC", "range": {"interval": [-60, 60]}}, ("1", "61"),
     r"row 2, column x: '61' is outside the range \[-60, 60\] of x"),
    ({"unit": "degC", "source_unit": "degF", "range": {"interval": [-60, 60]}}, ("200",),
     r"row 1, column x: '200' is outside the range \[-60, 60\] of x \(93.3333 degC\)"),
    ({"type": "str", "range": {"discrete": ["ok", "low_battery"]}}, ("ok", "broken"),
     r"row 2, column x: 'broken' is not one of \['ok', 'low_battery'\]"),
    ({"type": "int32"}, ("1", "2.5"), r"row 2, column x: '2.5' is not an integer"),
    ({"type": "bool"}, ("true", "maybe"), r"row 2, column x: 'maybe' is not true or false"),
    ({"type": "str[3]"}, ("abc", "abcd"), r"row 2, column x: 'abcd' is longer than 3"),
    ({"unit": {"tick": "s"}}, ("2026-01-01", "yesterday"), r"row 2, column x: 'yesterday' is not a time"),
])
def test_a_bad_cell_is_reported_with_row_column_and_value(spec, values, message):
    with pytest.raises(DataError, match=message) as info:
        convert_column(var(**spec), col(*values))
    assert info.value.row is not None and info.value.column == "x"


def test_types_and_na_values():
    ints = convert_column(var(type="int32", na_value=-9999), col("5", "-9999", None))
    assert ints.values.dtype == np.int32 and ints.valid.tolist() == [True, False, False]
    flags = convert_column(var(type="bool"), col("yes", "0", "TRUE"))
    assert flags.values.tolist() == [True, False, True]
    floats = convert_column(var(type="float32"), col("1.5", "nan", " "))
    assert floats.values.dtype == np.float32 and floats.valid.tolist() == [True, False, False]
    stamp = convert_column(var(type="datetime64[s]"), col("2026-01-01T00:00:10Z"))
    assert stamp.values.tolist() == [seconds("2026-01-01T00:00:10")]
    words = convert_column(var(type="str"), col(" ok ", None))
    assert words.values.tolist() == ["ok", ""] and words.valid.tolist() == [True, False]


def test_coordinate_columns_are_required():
    schema = load_schema({"COORDS": {"station": {"composed": ["lat", "lon"]}},
                          "VARS": {"lat": {"coords": "station"}, "lon": {"coords": "station"},
                                   "v": {"coords": ["time", "station"]}}}).node_schema("")
    with pytest.raises(DataError, match=r"missing column 'lon'"):
        prepare_table(schema, pd.DataFrame({"time": ["1"], "lat": ["1"], "v": ["1"]}))
    with pytest.raises(DataError, match=r"row 2, column lat: empty, but coordinate 'station'"):
        prepare_table(schema, pd.DataFrame({"time": ["1", "2"], "lat": ["1", ""],
                                            "lon": ["1", "1"]}))
    prepared = prepare_table(schema, pd.DataFrame({"time": ["1"], "lat": ["1"], "lon": ["2"],
                                                   "extra": ["x"]}))
    assert set(prepared.keys) == {"time", "station"} and "v" not in prepared.columns
