"""Fixtures of the property tests: the repository on sys.path and the forking drain server."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="module")
def drain_server():
    from pipeline import DrainServer
    server = DrainServer()
    yield server
    server.close()
