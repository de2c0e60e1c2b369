"""The CSV check's quick path (no quote character: rows split in C) answers exactly as the csv
reader does: the same columns and row count, or the same error, for texts of every shape.

Texts are drawn from the characters that decide a CSV's shape (delimiters, every line end, empty
lines, spaces, digits that make a header look like data), so widths, blank lines and header
faults all come up; CSV_QUICK_EXAMPLES raises the count for a longer run.
"""
from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.formats import ParseError, Sniffed
from shared.formats.csv import _check

EXAMPLES = int(os.environ.get("CSV_QUICK_EXAMPLES", "400"))

# \x0b \x0c \x1c \x85 \u2028: line ends to str.splitlines, plain characters to the csv reader
cell = st.text(alphabet="ab1. _-\t;\x0b\x0c\x1c\x85\u2028", max_size=4)
line_end = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def csv_texts(draw) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    width = draw(st.integers(1, 4))
    lines = []
    for number in range(draw(st.integers(1, 6))):
        cells = width + (draw(st.integers(-1, 1)) if number and draw(st.booleans()) else 0)
        lines.append(delimiter.join(draw(cell) for _ in range(max(cells, 0))))
        lines.append(draw(line_end))
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(line_end))  # a blank line
    if draw(st.booleans()):
        lines.pop()  # no final line end
    return "".join(lines)


def outcome(text: str, quick: bool) -> Sniffed | str:
    try:
        return _check(text, 3, quick=quick)
    except ParseError as error:
        return f"ParseError: {error}"


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(text=csv_texts())
def test_quick_path_agrees_with_the_csv_reader(text):
    assert outcome(text, quick=True) == outcome(text, quick=False)


def test_quick_path_is_taken_and_counts_rows():
    text = "time,station,value\r\n2026-01-01 00:00,a,1\r\n\r\n2026-01-01 00:10,a,2\n2026-01-01 00:20,a,3\r"
    assert _check(text, quick=True) == Sniffed(["time", "station", "value"], 3)


def test_a_short_row_falls_back_to_the_reader_and_is_named_by_line():
    text = "time,value\n2026-01-01,1\n2026-01-02\n"
    assert outcome(text, quick=True) == "ParseError: CSV line 3: 1 cells, but the header has 2 columns"
