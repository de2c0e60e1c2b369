"""Uploads as tables: the gateway's cheap check and the worker's full parse agree."""

from __future__ import annotations

import math

import pytest

from shared.parse import ParseError, read_table, sniff_columns


def test_csv_cells_are_strings_and_an_empty_cell_is_missing():
    table = read_table(b"timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,007,\n2026-06-14 07:00:00,oak,1.50\n", "csv")
    assert list(table.columns) == ["timestamp", "tree_id", "sap_flow"]
    assert table["tree_id"].tolist() == ["007", "oak"]  # leading zeros kept: no type guessing
    assert table["sap_flow"].iloc[1] == "1.50" and table["sap_flow"].isna().iloc[0]


def test_semicolon_csv_with_a_byte_order_mark_is_read():
    payload = "\ufefftimestamp;station;temp\n2026-01-01;A;1.5\n".encode()
    assert sniff_columns(payload, "csv") == ["timestamp", "station", "temp"]
    assert read_table(payload, "csv")["station"].tolist() == ["A"]


def test_json_records_and_columns_keep_their_values():
    records = read_table(b'[{"a": 1, "b": "x"}, {"a": 2.5, "c": null}]', "json")
    assert records["a"].tolist() == [1, 2.5] and list(records.columns) == ["a", "b", "c"]
    columns = read_table(b'{"a": [1, 2], "b": ["x", null]}', "json")
    assert columns["a"].tolist() == [1, 2] and columns["b"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    "payload, fmt, message",
    [
        (b"a,b\n1,2\n3\n", "csv", "CSV line 3: 1 cells, but the header has 2 columns"),
        (b"a,a\n1,2\n", "csv", "duplicate column names a"),
        (b"a,b\n", "csv", "no data rows"),
        (b"a,\n1,2\n", "csv", "column 2 of the header has no name"),
        (b"[1, 2]", "json", "JSON record 0: expected an object, got a number"),
        (b"[]", "json", "JSON list is empty"),
        (b'{"a": [1, 2], "b": [1]}', "json", "different lengths (a: 2, b: 1)"),
        (b'{"a": [1,', "json", "JSON line 1 column"),
        (b"\x00\x01", "csv", "binary data"),
    ],
)
def test_malformed_uploads_raise_parse_errors_naming_the_place(payload, fmt, message):
    with pytest.raises(ParseError) as error:
        sniff_columns(payload, fmt)
    assert message in str(error.value)
    with pytest.raises(ParseError):
        read_table(payload, fmt)


def test_nan_is_not_a_json_column_length_problem():
    assert math.isnan(read_table(b'{"a": [NaN]}', "json")["a"].iloc[0])
