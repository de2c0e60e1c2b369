"""The loggers' text conventions: depth labels like "0.05m" and values as text ("8,25" too)."""
from __future__ import annotations

import math
import re

DEPTH = re.compile(r"\s*(\d+(?:[.,]\d+)?)\s*(mm|cm|m)\s*")
TO_METRES = {"mm": 0.001, "cm": 0.01, "m": 1.0}


def depth_metres(label: str, where: str) -> float:
    match = DEPTH.fullmatch(label)
    if match is None:
        raise ValueError(f"{where}.metadata.label: {label!r} is not a depth like 0.05m")
    return round(float(match.group(1).replace(",", ".")) * TO_METRES[match.group(2)], 6)


def reading_value(text: object, where: str) -> float:
    if text is None or (isinstance(text, str) and not text.strip()):
        return math.nan  # the logger wrote no value: a missing value, its error code says why
    try:
        return float(str(text).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"{where}.v: {text!r} is not a number") from None
