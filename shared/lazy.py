"""Heavy libraries imported at their first use, not when the module that names them is imported.

The gateway imports the schema language and the format checks, which name pandas, xarray and
zarr only for the worker's work (reading tables, opening binary files, writing stores). Imported
eagerly, they are ~100 MB in every gunicorn worker that never calls them (issue 11: the gateway's
processes held 2.7x the memory of a bare app). `LazyModule("pandas")` stands where
`import pandas as pd` stood: the first attribute looked up imports the library (under Python's
import lock, so threads racing to it get the one module), later lookups are a dictionary read.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r}, {state}>"
