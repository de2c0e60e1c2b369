"""How the worker turns one queued payload into the table the merge engine takes.

    csv, json, ...        shared.formats.read_table (one module per format)
    grib, gribbz2, netcdf opened with xarray (shared.binary), flattened by the node's df_col
    raw                   the endpoint's extractor plugin (shared.plugins); a Dataset it
                          returns is flattened the same way, a polars table converted
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import xarray as xr

from shared.binary import BINARY_FORMATS, open_dataset
from shared.config import Endpoint
from shared.fuse import NodeSchema
from shared.fuse.errors import DataError
from shared.fuse.frames import as_pandas, dataset_table
from shared.formats import FORMATS as TABLE_FORMATS, read_table
from shared.formats.units import check_stated_units
from shared.plugins import Extractor, run_extractor

RAW = "raw"  # the format the gateway gives uploads of an extractor endpoint


class PayloadReader:
    def __init__(self, endpoint: Endpoint | None = None, extractor: Extractor | None = None) -> None:
        self.endpoint = endpoint
        self.extractor = extractor

    def table(self, payload: bytes, sidecar: Any, schema: NodeSchema) -> pd.DataFrame:
        fmt = sidecar.format
        if fmt in TABLE_FORMATS:
            table = read_table(payload, fmt)
            check_stated_units(table.attrs.get("units", {}), schema)
            return table
        if fmt in BINARY_FORMATS:
            result: Any = open_dataset(payload, fmt)
        elif fmt == RAW:
            if self.extractor is None or self.endpoint is None:
                raise DataError(f"upload of format raw, but endpoint {sidecar.endpoint!r} has no extractor "
                                "(fn_module + extract_fn) configured any more")
            metadata = json.loads(sidecar.to_json())
            result = run_extractor(self.endpoint, self.extractor, payload, metadata)
        else:
            raise DataError(f"unknown upload format {fmt!r}")
        if isinstance(result, xr.Dataset):
            return dataset_table(result, schema)
        return as_pandas(result)
