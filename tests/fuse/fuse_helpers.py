"""Small builders shared by the merge-engine tests."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shared.fuse import open_store


def one_d_schema(attrs: dict, **coord) -> dict:
    """SCHEMA.md section 4's example: a sorted float coordinate ``t`` and a variable ``v``."""
    return {"ATTRS": attrs,
            "COORDS": {"t": {"type": "float64", "chunk_size": 2, **coord}},
            "VARS": {"v": {"coords": ["t"], "type": "float64"}}}


def station_schema(attrs: dict, time_unit: dict | None = None, **time) -> dict:
    """time x station with a composed [lat, lon] key and three variables."""
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": time_unit or {"tick": "s", "tz": "UTC"},
                                "df_col": "timestamp", "chunk_size": 4, **time},
                       "station": {"composed": ["lat", "lon"], "chunk_size": 2}},
            "VARS": {"lat": {"coords": "station", "unit": "deg"},
                     "lon": {"coords": "station", "unit": "deg"},
                     "temperature": {"coords": ["time", "station"], "unit": "degC",
                                     "source_unit": "degF", "df_col": "temp_f"},
                     "humidity": {"coords": ["time", "station"], "unit": "%", "type": "float32"},
                     "wind": {"coords": ["time", "station"], "unit": "m/s"}}}


def table(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """An upload as the parser gives it: every cell a string, empty cells empty."""
    return pd.DataFrame([["" if v is None else str(v) for v in row] for row in rows],
                        columns=columns, dtype=object)


def seeded_1d(backend, **coord):
    """A store holding t = [0, 1, 2, 3], v = [10, 11, 12, 13]."""
    node = open_store(one_d_schema(backend.attrs(), **coord), environ=backend.environ)
    node.update(table([(0, 10), (1, 11), (2, 12), (3, 13)], ["t", "v"]))
    return node


def stored(node, name: str) -> np.ndarray:
    return node.dataset[name].values


def snapshot(path) -> dict:
    """Every array of a local store, for exact comparisons."""
    import zarr
    out = {}
    root = zarr.open_group(str(path), mode="r")
    for name, group in [("", root)] + list(root.groups()):
        for aname, arr in group.arrays():
            out[f"{name}/{aname}"] = (arr.shape, arr[...].tolist())
    return out


def local_stores(root: Path) -> list[Path]:
    """Store roots under ``root``: folders with a zarr.json whose parent has none."""
    return sorted(meta.parent for meta in root.rglob("zarr.json")
                  if not (meta.parent.parent / "zarr.json").exists())


def assert_opens_with_plain_xarray(store: Path) -> None:
    """Every group of a local store opens with plain xarray and its date-times decode."""
    import xarray as xr
    import zarr
    root = zarr.open_group(str(store), mode="r")
    for path, group in [("", root)] + list(root.members(max_depth=None)):
        if not isinstance(group, zarr.Group) or any(p.startswith("__") for p in path.split("/")):
            continue      # journal backups are not data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", xr.SerializationWarning)
            ds = xr.open_zarr(str(store), group=path or None, consolidated=False)
        for name, array in ds.variables.items():
            if " since " in str(array.encoding.get("units", "")):
                # with cftime installed xarray falls back to cftime objects instead of failing
                assert array.dtype.kind == "M", (f"{store} group {path or '/'!r}: {name} does "
                                                 f"not decode to datetime64 ({array.dtype})")
