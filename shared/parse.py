"""Kept for imports written before shared/formats/: the parsing lives there, one module per format."""

from shared.formats import DEFAULT_MAX_COLUMNS, FORMATS, ParseError, header_columns, read_table, sniff_columns
from shared.formats.json import JSON_INT_MAX_DIGITS

__all__ = ["DEFAULT_MAX_COLUMNS", "FORMATS", "JSON_INT_MAX_DIGITS", "ParseError", "header_columns", "read_table",
           "sniff_columns"]
