"""Hostile tables: what the parser refuses instead of guessing, and the cap on columns."""

from __future__ import annotations

import pytest

from shared.parse import ParseError, read_table, sniff_columns


@pytest.mark.parametrize("parse", [sniff_columns, read_table])
def test_a_key_twice_in_one_json_record_is_refused_naming_record_and_key(parse):
    payload = b'[{"timestamp": "2026-01-01", "sap_flow": 1}, {"timestamp": "2026-01-02", "sap_flow": 1, "sap_flow": 2}]'
    with pytest.raises(ParseError, match=r"JSON record 1: key 'sap_flow' appears twice"):
        parse(payload, "json")


def test_a_column_twice_in_a_json_mapping_is_refused_naming_it():
    with pytest.raises(ParseError, match=r"JSON column 'a' appears twice"):
        sniff_columns(b'{"a": [1], "b": [2], "a": [3]}', "json")


@pytest.mark.parametrize("parse", [sniff_columns, read_table])
def test_a_5000_digit_json_integer_is_a_parse_error_naming_record_and_key(parse):
    payload = b'[{"timestamp": "2026-01-01", "sap_flow": 1}, {"timestamp": "2026-01-02", "sap_flow": ' + b"7" * 5000 + b"}]"
    with pytest.raises(ParseError, match=r"JSON record 1, key 'sap_flow': the integer 777777777777\.\.\. has 5000 digits"):
        parse(payload, "json")


def test_long_integers_that_a_float_still_holds_are_kept():
    assert read_table(b'{"a": [' + b"9" * 300 + b"]}", "json")["a"].iloc[0] == int("9" * 300)


def test_more_csv_columns_than_max_columns_is_refused_naming_the_limit():
    header = ",".join(f"c{i}" for i in range(2001)).encode()
    with pytest.raises(ParseError, match=r"CSV line 1: 2001 columns, more than the limit of 2000 \(MAX_COLUMNS\)"):
        sniff_columns(header + b"\n" + b",".join([b"1"] * 2001) + b"\n", "csv")
    assert len(sniff_columns(header + b"\n" + b",".join([b"1"] * 2001) + b"\n", "csv", max_columns=2001)) == 2001


def test_more_json_columns_than_max_columns_is_refused_naming_the_limit():
    payload = b"[{" + b", ".join(b'"c%d": 1' % i for i in range(11)) + b"}]"
    with pytest.raises(ParseError, match=r"JSON has 11 columns, more than the limit of 10 \(MAX_COLUMNS\)"):
        sniff_columns(payload, "json", max_columns=10)


def test_duplicate_csv_columns_among_many_are_all_named():
    names = [f"c{i}" for i in range(5000)] + ["c17", "c4999"]
    payload = ",".join(names).encode() + b"\n" + b",".join([b"1"] * len(names)) + b"\n"
    with pytest.raises(ParseError, match=r"duplicate column names c17, c4999$"):
        sniff_columns(payload, "csv", max_columns=10_000)
