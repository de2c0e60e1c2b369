"""The one error of configuration: raised at start-up, so a bad deployment never takes an upload."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(Exception):
    """Invalid configuration; `str()` is one line naming the variable, or the file and key."""


def check_keys(at: str, mapping: Iterable[object], allowed: tuple[str, ...]) -> None:
    """Refuse the first key not in `allowed`, naming it at `at` with a did-you-mean."""
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{at}{key}: unknown key ({hint}allowed: {', '.join(allowed)})")
