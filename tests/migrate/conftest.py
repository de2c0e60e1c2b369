"""Fixtures of the migration tests: config folders in the original server's forms, real processes."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

from migrate_stack import ConfigStack  # noqa: E402


@pytest.fixture
def stacks(tmp_path: Path) -> Iterator[list[ConfigStack]]:
    started: list[ConfigStack] = []
    yield started
    for stack in started:
        stack.close()
