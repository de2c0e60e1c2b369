"""Fixtures of the gateway tests: a test client on a temporary queue, a real gunicorn process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import Gunicorn, make_settings

from gateway.app import create_app


@pytest.fixture
def queue_dir(tmp_path: Path) -> Path:
    return tmp_path / "queue"


@pytest.fixture
def client(queue_dir: Path):
    return create_app(make_settings(queue_dir)).test_client()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    server = Gunicorn(tmp_path / "queue", tmp_path)
    try:
        yield server
    finally:
        server.stop()
