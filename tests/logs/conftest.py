"""The log-format tests: this folder (the strict logfmt parser) and tests/e2e (real processes) on sys.path."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
for path in (HERE.parents[1], HERE, HERE.parent / "e2e"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from typing import Iterator  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def moto(tmp_path: Path) -> Iterator["MotoServer"]:
    from e2e_stack import MotoServer

    server = MotoServer(tmp_path, tmp_path)
    server.create_bucket()
    yield server
    server.close()
