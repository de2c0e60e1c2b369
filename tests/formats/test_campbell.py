"""Campbell TOA5 and CSIJSON: detected by content, read into the same table, units checked."""
from __future__ import annotations

import math

import pytest
import yaml

from shared.formats import ParseError, read_table, resolve, sniff_columns
from shared.formats.units import check_stated_units, pint_expression
from shared.fuse import load_schema
from shared.fuse.errors import DataError

from format_samples import sample

FIELDS = ["TIMESTAMP", "RECORD", "BattV_Min", "PTemp_C_Avg", "T107_C(1)", "T107_C(2)", "T107_C(3)"]


def test_a_toa5_file_posted_as_csv_is_detected_and_read_with_station_table_and_missing_nan():
    payload = sample("cr1000x_met10.dat")
    assert resolve(payload, "csv") == "toa5"
    assert sniff_columns(payload, "toa5") == [*FIELDS, "station", "table"]
    table = read_table(payload, "toa5")
    assert list(table.TIMESTAMP) == ["2026-11-30 23:50:00", "2026-12-01 00:00:00", "2026-12-01 00:10:00"]
    assert list(table.RECORD) == ["4411", "4412", "4413"]
    assert table["T107_C(3)"][0] is None  # "NAN"
    assert table["T107_C(2)"][1] == "2.109"
    assert set(table.station) == {"Hut_Ridge"} and set(table.table) == {"Met10"}
    assert table.attrs["units"] == {"BattV_Min": "Volts", "PTemp_C_Avg": "Deg C", "T107_C(1)": "Deg C",
                                    "T107_C(2)": "Deg C", "T107_C(3)": "Deg C"}


def test_a_csijson_body_is_detected_and_read_like_toa5_with_time_and_no():
    payload = sample("cr1000x_met10.json")
    assert resolve(payload, "json") == "csijson"
    assert sniff_columns(payload, "csijson") == [*FIELDS, "station", "table"]
    table = read_table(payload, "csijson")
    assert list(table.TIMESTAMP) == ["2026-12-01T00:30:00", "2026-12-01T00:40:00"]
    assert list(table.RECORD) == [4415, 4416]
    assert table["T107_C(3)"][0] is None and table["T107_C(3)"][1] == pytest.approx(3.044)
    assert table.attrs["units"]["PTemp_C_Avg"] == "Deg C"


def test_plain_csv_and_json_are_still_plain():
    assert resolve(b"a,b\n1,2\n", "csv") == "csv"
    assert resolve(b'{"head": [1], "data": [2]}', "json") == "json"  # columns named head and data
    assert resolve(b'[{"end_device_ids": 1}]', "json") == "json"


def test_an_endpoint_format_wins_over_detection():
    assert resolve(sample("cr1000x_met10.dat"), "csv", "csv") == "csv"
    with pytest.raises(ParseError, match='TOA5 line 1: expected "TOA5" first'):
        sniff_columns(b"a,b\n1,2\n", resolve(b"a,b\n1,2\n", "csv", "toa5"))


@pytest.mark.parametrize(("payload", "message"), [
    (b'"TOA5","st","CR1000X"\n', "TOA5 line 1: 3 fields, the environment line needs 8"),
    (b'"TOA5","s","m","1","os","p","9","t"\n', "TOA5 line 2: missing"),
    (b'"TOA5","s","m","1","os","p","9","t"\n"A","B"\n"","",""\n', "TOA5 line 3: 3 units entries"),
    (b'"TOA5","s","m","1","os","p","9","t"\n"A","A"\n"",""\n"",""\n1,2\n', "duplicate field names A"),
    (b'"TOA5","s","m","1","os","p","9","t"\n"A","B"\n"",""\n"",""\n1,2\n1\n', "TOA5 line 6: 1 cells"),
    (b'"TOA5","s","m","1","os","p","9","t"\n"A","station"\n"",""\n"",""\n1,2\n', "field 'station' clashes"),
    (b'"TOA5","s","m","1","os","p","9","t"\n"A","B"\n"",""\n"",""\n', "no data rows"),
])
def test_malformed_toa5_names_the_line_to_fix(payload, message):
    with pytest.raises(ParseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sniff_columns(payload, "toa5")


def test_malformed_csijson_names_the_record_or_field():
    with pytest.raises(ParseError, match=r"CSIJSON data\[0\]\.vals: 1 values, but head.fields names 2"):
        sniff_columns(b'{"head": {"fields": [{"name": "a"}, {"name": "b"}]}, "data": [{"time": "t", "vals": [1]}]}',
                      "csijson")
    with pytest.raises(ParseError, match=r"CSIJSON head.fields\[1\].name: expected a string"):
        sniff_columns(b'{"head": {"fields": [{"name": "a"}, {"name": 3}]}, "data": []}', "csijson")


def schema_with(units: dict[str, tuple[str, str, str | None]]):
    """A station schema: variable -> (df_col, unit, source_unit or None)."""
    variables = {
        name: {"coords": ["time", "station"], "unit": unit, "df_col": column,
               **({"source_unit": source} if source else {})}
        for name, (column, unit, source) in units.items()
    }
    return load_schema({
        "ATTRS": {"description": "test station"},
        "COORDS": {"time": {"unit": {"tick": "s", "tz": "+01:00"}, "df_col": "TIMESTAMP"},
                   "station": {"type": "str"}},
        "VARS": variables,
    }).node_schema("")


def test_campbell_unit_spellings_match_their_pint_units():
    node = schema_with({"battery": ("BattV_Min", "V", None), "panel": ("PTemp_C_Avg", "degC", None),
                        "rad": ("SlrW", "W/m^2", None), "rh": ("RH", "percent", None),
                        "rain": ("Rain_mm_Tot", "m", "mm")})
    check_stated_units({"BattV_Min": "Volts", "PTemp_C_Avg": "Deg C", "SlrW": "W/m^2", "RH": "%",
                        "Rain_mm_Tot": "mm", "not_in_schema": "furlongs"}, node)
    assert pint_expression("Deg C") == "degC"


def test_a_unit_the_schema_does_not_expect_names_the_column_and_both_units():
    node = schema_with({"battery": ("BattV_Min", "V", "mV")})
    with pytest.raises(DataError, match=r"column 'BattV_Min': the logger states unit 'Volts', the schema's "
                                        r"source_unit of 'battery' is 'mV'") as caught:
        check_stated_units({"BattV_Min": "Volts"}, node)
    assert caught.value.column == "BattV_Min"
    with pytest.raises(DataError, match="states unit 'furlongs'.*unit of 'battery' is 'V'"):
        check_stated_units({"BattV_Min": "furlongs"}, schema_with({"battery": ("BattV_Min", "V", None)}))
