"""Durations as operators write them: `30m`, `2h`, `1h30m`, `90s`, `1.5d`, `2w`.

Used by the endpoints file's `expect_every:` and by `zarr-ingress queue loggers --silent-for`.
A bare number is refused: "30" could mean seconds or minutes, and a silence alarm off by a
factor of sixty is worse than a start-up error.
"""

from __future__ import annotations

import math
import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhdw])")
_WHOLE = re.compile(r"\s*(?:[0-9]+(?:\.[0-9]+)?\s*[smhdw]\s*)+")
EXAMPLES = "30m, 2h, 1h30m, 90s or 1d"


def parse_duration(text: str) -> float:
    """Seconds in `text` (parts like `1h30m` add up); ValueError saying what a duration looks like."""
    lowered = text.lower() if isinstance(text, str) else ""
    if not _WHOLE.fullmatch(lowered):
        raise ValueError(f"{text!r} is not a duration like {EXAMPLES}")
    seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(lowered))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{text!r} is not a duration above zero (like {EXAMPLES})")
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` as whole units, largest first (`1h30m`, `45s`); the inverse of parse_duration
    for whole seconds."""
    rest = max(0, round(seconds))
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = UNIT_SECONDS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or "0s"
