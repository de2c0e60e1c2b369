"""Every key of the schema language, and the "did you mean" that tells a typo from a free key.

SCHEMA.md "Compatibility and strictness": a key that is a near-miss of a known key (``dtype``
for ``type``, ``chunksize`` for ``chunk_size``) is a typo and refused; any other unknown key is
a free key of the user's (zarr-fuse ignores those too) and only warned about.
"""
from __future__ import annotations

import difflib
from typing import Any

RESERVED = ("ATTRS", "VARS", "COORDS")
# `name` is how zarr-fuse's __structure__ repeats the entry name; it must agree with it.
VAR_KEYS = ("name", "coords", "unit", "type", "na_value", "range", "df_col", "source_unit", "description")
# `merge:` is zarr-fuse's sub-mapping of a coordinate; its keys mean what they mean one level up.
MERGE_KEYS = ("step_limits", "allow_inserts", "sorted")
COORD_KEYS = VAR_KEYS + ("composed", "chunk_size", "merge") + MERGE_KEYS
COORD_ONLY_KEYS = tuple(k for k in COORD_KEYS if k not in VAR_KEYS)
DATETIME_KEYS = ("tick", "tz", "dayfirst", "yearfirst", "epoch", "window")  # the last two: units.py
RANGE_KINDS = ("interval", "discrete")
TYPES = ("bool", "int", "int8", "int32", "int64", "uint", "uint8", "uint32", "uint64", "float",
         "float32", "float64", "complex", "complex64", "complex128", "str")
TYPE_ALIASES = {"int": "int64", "uint": "uint64", "float": "float64", "complex": "complex128"}
BOOL_UNITS = ("bool", "boolean")          # zarr-fuse's spelling of a dimensionless boolean
STEP_LIMIT_WORDS = ("any_new", "no_new")

# How alike a key must be to a known one to count as its typo (difflib ratio): `dtype`/`type`
# is 0.89, `chunksize`/`chunk_size` 0.95, while free keys such as `long_name` or `comment`
# stay far below.
_TYPO_RATIO = 0.8


def near_miss(key: Any, known: tuple[str, ...], loose: bool = False) -> str | None:
    """The known key that ``key`` is most likely a misspelling of, or None for a free key.

    ``loose`` is for the date-time unit mapping, whose keys are too short for a ratio
    (``tzone`` for ``tz``) and which has no free keys of its own.
    """
    text = str(key).lower()
    for candidate in known:
        if candidate.lower() in (text, text.rstrip("s")):
            return candidate
        if loose and text.startswith(candidate.lower()):
            return candidate
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5 if loose else _TYPO_RATIO)
    return close[0] if close else None


def closest(value: Any, known: tuple[str, ...]) -> str | None:
    """A looser match, for a hint in a message that is an error anyway (``flaot32``)."""
    close = difflib.get_close_matches(str(value), known, n=1, cutoff=0.5)
    return close[0] if close else None
