"""Fixtures: a moto S3 server, a proxy in front of it, and a gateway+worker stack per test."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_stack import REPO, MotoServer, Stack, TcpProxy  # noqa: E402

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path, tmp_path)
    server.create_bucket()
    yield server
    server.close()


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[TcpProxy]:
    relay = TcpProxy(moto.port)
    yield relay
    relay.close()


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def build(name: str = "stack", **options: Any) -> Stack:
        stack = Stack(tmp_path / name, **options)
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.close()
