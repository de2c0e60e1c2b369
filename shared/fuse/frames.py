"""Tables as zarr-fuse users hand them over: pandas or polars DataFrames, and xarray Datasets.

The engine merges pandas tables whose columns are the schema's input columns (`df_col`). A
polars DataFrame is converted through Arrow as one table (polars and pandas share the Arrow
buffers where the types allow it), never column by column in Python. A Dataset is flattened
into the same table form: one row per cell of its dimensions, so a Dataset merges with exactly
the upsert rules of a table (SCHEMA.md section 4).
"""
from __future__ import annotations

from typing import Any

import pandas as pd
import xarray as xr

from .errors import DataError
from .schema import NodeSchema


def is_polars(table: Any) -> bool:
    return type(table).__module__.split(".")[0] == "polars" and hasattr(table, "to_pandas")


def as_pandas(table: Any) -> pd.DataFrame:
    """`table` as a pandas DataFrame: pandas as it is, polars through Arrow; DataError otherwise."""
    if isinstance(table, pd.DataFrame):
        return table
    if is_polars(table):
        try:
            return table.to_pandas()
        except ModuleNotFoundError as error:  # polars needs pyarrow for this: the `polars` extra has it
            raise DataError(f"cannot convert a polars DataFrame: {error} (pip install zarr-fuse-ingress[polars])") from None
    raise DataError(f"expected a pandas or polars DataFrame, got {type(table).__module__}.{type(table).__name__}")


def dataset_table(dataset: xr.Dataset, schema: NodeSchema) -> pd.DataFrame:
    """The cells of `dataset` as one table in the node's input columns (renamed by `df_col`).

    Variables and dimensions may be named by the schema name or by the `df_col`. A dimension
    the node has no coordinate (or composed component) for is dropped when it has one value
    (a GRIB `step` of a single forecast) and refused otherwise: flattening it would make rows
    with the same key, and all but the last would be lost without a word.
    """
    if not isinstance(dataset, xr.Dataset):
        raise DataError(f"expected an xarray.Dataset, got {type(dataset).__module__}.{type(dataset).__name__}")
    entries = {**schema.vars, **schema.coords}
    present = set(dataset.variables)
    rename = {name: spec.df_col for name, spec in entries.items()
              if spec.df_col != name and name in present and spec.df_col not in present}
    dataset = dataset.rename(rename)
    inputs = [spec.df_col for spec in entries.values()]
    keys = set(schema.required_columns()) | {c.df_col for c in schema.coords.values()}

    variables = [name for name in dataset.data_vars if name in inputs]
    if all(name in keys for name in variables):
        raise DataError(
            f"the dataset has no variable of node {schema.path or '/'!r}: expected one of "
            f"{', '.join(schema.variable_columns()) or 'none'}; it has {', '.join(map(str, dataset.data_vars)) or 'none'}"
        )
    selected = dataset[variables]
    for dim, size in selected.sizes.items():
        if dim in keys:
            continue
        if size == 1:
            selected = selected.squeeze(dim, drop=True)
            continue
        raise DataError(
            f"dataset dimension {dim!r} ({size} values) is not a coordinate of node {schema.path or '/'!r} "
            f"(coordinates: {', '.join(sorted(keys))}): rename it or select one value"
        )
    # Key columns the data variables do not span (scalar coordinates) come along as columns too.
    table = selected.to_dataframe().reset_index()
    for name in keys - set(table.columns):
        if name in dataset.variables and dataset[name].ndim == 0:
            table[name] = dataset[name].values[()]
    return table[[c for c in table.columns if c in inputs]]
