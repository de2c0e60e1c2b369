"""Extractor plugins: Python functions in the config folder that turn an upload into a table.

An endpoint with `fn_module: extract.bukov` and `extract_fn: extract` uses the function
`extract` of `<config dir>/extract/bukov.py` (or `.../extract/bukov/__init__.py`). It is called
as `extract(payload=<the queued bytes>, metadata=<the sidecar as a dict>)` and returns a pandas
or polars DataFrame or an xarray.Dataset, merged like a parsed upload.

The module is loaded from its file (importlib.util.spec_from_file_location) under a private
package name, never by putting the config folder on sys.path: a plugin file called like a
library (`extract/pandas.py`, `json.py`) must not shadow the library for everyone else. Its
parent folders become that private package, so relative imports between plugin files work.
"""
from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shared.config import ConfigError, Endpoint
from shared.fuse.errors import DataError
from shared.lazy import LazyModule

# The gateway loads the extractors only to check them: the table libraries wait for the worker.
pd = LazyModule("pandas")
xr = LazyModule("xarray")

PACKAGE = "zarr_ingress_config"  # private root: plugins never collide with installed modules

Extractor = Callable[..., Any]


class ExtractorError(DataError):
    """An extractor raised, or returned something that is not a table (permanent for the upload)."""


def load_extractors(endpoints: Iterable[Endpoint]) -> dict[str, Extractor]:
    """The extractor of every endpoint that has one, by endpoint name; ConfigError naming the entry."""
    return {e.name: load_extractor(e) for e in endpoints if e.extractor}


def load_extractor(endpoint: Endpoint) -> Extractor:
    assert endpoint.fn_module and endpoint.extract_fn and endpoint.config_dir is not None
    at = f"endpoint {endpoint.name!r}: extractor {endpoint.extractor}"
    parts = endpoint.fn_module.split(".")
    base = endpoint.config_dir.joinpath(*parts)
    candidates = (base.with_suffix(".py"), base / "__init__.py")
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ConfigError(f"{at}: fn_module not found: no {candidates[0]} or {candidates[1]}")
    try:
        module = _import(endpoint.config_dir, parts, path)
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise ConfigError(
            f"{at}: importing {path} failed: {type(error).__name__}: {error} (line {where.lineno})".replace("\n", " ")
        ) from None
    function = getattr(module, endpoint.extract_fn, None)
    if function is None:
        raise ConfigError(f"{at}: extract_fn not found: {path} has no {endpoint.extract_fn!r}")
    if not callable(function):
        raise ConfigError(f"{at}: extract_fn {endpoint.extract_fn!r} in {path} is not callable")
    return function


def run_extractor(endpoint: Endpoint, function: Extractor, payload: bytes, metadata: dict[str, Any]) -> Any:
    """The extractor's table (pandas DataFrame, polars DataFrame or xarray.Dataset).

    Anything it raises, and a result of another kind, is an ExtractorError naming the extractor;
    the original exception is its cause, so the traceback in failed/ shows the plugin's lines.
    """
    try:
        result = function(payload=payload, metadata=metadata)
    except Exception as error:
        raise ExtractorError(f"extractor {endpoint.extractor} of endpoint {endpoint.name!r} raised "
                             f"{type(error).__name__}: {error}") from error
    from shared.fuse.frames import is_polars  # the worker's side of the engine (pandas, xarray)

    if isinstance(result, (pd.DataFrame, xr.Dataset)) or is_polars(result):
        return result
    raise ExtractorError(f"extractor {endpoint.extractor} of endpoint {endpoint.name!r} returned "
                         f"{type(result).__module__}.{type(result).__name__}: expected a pandas or polars "
                         "DataFrame or an xarray.Dataset")


def _import(config_dir: Path, parts: list[str], path: Path) -> types.ModuleType:
    # One private root per config folder: two deployments' plugins in one process stay apart.
    root = f"{PACKAGE}_{hashlib.sha1(str(config_dir.resolve()).encode()).hexdigest()[:10]}"
    _package(root, config_dir)
    folder = config_dir
    for depth, part in enumerate(parts[:-1], start=1):
        folder = folder / part
        _package(".".join([root, *parts[:depth]]), folder)
    name = ".".join([root, *parts])
    if name in sys.modules:
        return sys.modules[name]
    is_package = path.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if is_package else None
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _package(name: str, folder: Path) -> None:
    """Register `folder` as package `name` (running its __init__.py when it has one)."""
    if name in sys.modules:
        return
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = types.ModuleType(name)
        module.__path__ = [str(folder)]  # a namespace-like package: its files import each other
        sys.modules[name] = module
