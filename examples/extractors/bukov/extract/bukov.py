"""Extractor for the borehole loggers' nested JSON export: one row per time, site and depth.

The export nests sites, then depths, then readings:

    {"data": [{"metadata": {"label": "ZK1-10DL"},              <- site
               "data": [{"metadata": {"label": "0.05m"},        <- depth
                         "data": [{"t": 1764576000000,          <- epoch milliseconds (UTC)
                                   "v": "8.25",                 <- value as text
                                   "e": "0"}]}]}]}              <- the logger's error code

Configured in endpoints_config.yaml as `fn_module: extract.bukov`, `extract_fn: extract`; the
worker calls `extract(payload=<bytes>, metadata=<sidecar dict>)`. Everything in the file is
kept: a reading without a value becomes a missing value, its error code stays in `error_code`,
and anything this function cannot read raises, which sends the upload to failed/ with the
reason (nothing is skipped silently).
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .labels import depth_metres, reading_value


def extract(*, payload: bytes, metadata: dict[str, Any]) -> pd.DataFrame:
    export = json.loads(payload)
    rows = []
    for s, site in enumerate(_list(export, "data", "export")):
        site_label = _label(site, f"data[{s}]")
        for d, depth in enumerate(_list(site, "data", f"data[{s}]")):
            where = f"data[{s}].data[{d}]"
            metres = depth_metres(_label(depth, where), where)
            for r, reading in enumerate(_list(depth, "data", where)):
                at = f"{where}.data[{r}]"
                if not isinstance(reading, dict) or "t" not in reading:
                    raise ValueError(f"{at}: expected a reading {{\"t\": <epoch ms>, \"v\": ..., \"e\": ...}}")
                rows.append({
                    "time": pd.Timestamp(int(reading["t"]), unit="ms", tz="UTC"),
                    "site": site_label,
                    "depth": metres,
                    "temperature": reading_value(reading.get("v"), at),
                    "error_code": int(reading.get("e") or 0),
                })
    return pd.DataFrame(rows, columns=["time", "site", "depth", "temperature", "error_code"])


def _list(node: Any, key: str, where: str) -> list:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list under {key!r}")
    return value


def _label(node: Any, where: str) -> str:
    label = (node.get("metadata") or {}).get("label") if isinstance(node, dict) else None
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}.metadata.label: missing")
    return label.strip()
