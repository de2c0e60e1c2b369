"""The log-format tests: this folder (the strict logfmt parser) and tests/e2e (real processes) on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
for path in (HERE.parents[1], HERE, HERE.parent / "e2e"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
