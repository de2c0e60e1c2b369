"""Fixtures of the merge-engine tests: schemas, stores on a local directory and on a real
moto S3 server process on 127.0.0.1 (started once per test session)."""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuse_s3 import S3_KEY, S3_SECRET, MotoServer  # noqa: E402


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


_buckets = itertools.count()


class Backend:
    """Where a test's stores live: ``environ`` and ``attrs`` to put into a schema."""

    def __init__(self, kind: str, tmp_path: Path, server: MotoServer | None = None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.server = server
        if kind == "local":
            self.environ = {"STORE_ROOT": str(tmp_path / "stores")}
            self.bucket = "bucket"
        else:
            self.bucket = f"test-{os.getpid()}-{next(_buckets)}"
            server.make_bucket(self.bucket)
            self.environ = {"S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET,
                            "S3_ENDPOINT_URL": server.url}

    def attrs(self, name: str = "store.zarr") -> dict:
        return {"store_path": f"{self.bucket}/{name}", "s3_url": "http://127.0.0.1:9"}

    def local_path(self, name: str = "store.zarr") -> Path | None:
        return Path(self.environ["STORE_ROOT"]) / self.bucket / name if self.kind == "local" else None

    def open_xarray(self, name: str, group: str | None):
        """The store read with plain xarray, no project code."""
        import xarray as xr
        if self.kind == "local":
            return xr.open_zarr(str(self.local_path(name)), group=group, consolidated=False)
        return xr.open_zarr(f"s3://{self.bucket}/{name}", group=group, consolidated=False,
                            storage_options={"key": S3_KEY, "secret": S3_SECRET,
                                             "endpoint_url": self.server.url})


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, tmp_path):
    if request.param == "local":
        return Backend("local", tmp_path)
    return Backend("s3", tmp_path, request.getfixturevalue("moto_server"))


@pytest.fixture
def local(tmp_path):
    return Backend("local", tmp_path)


def pytest_configure(config):
    config.addinivalue_line("markers", "damaged_store: the test leaves a store plain xarray "
                                       "cannot open on purpose (skips the after-test check)")


@pytest.fixture(autouse=True)
def stores_open_with_plain_xarray(request, tmp_path):
    """A property of every merge-engine test: whatever it merged, plain xarray can read."""
    from fuse_helpers import assert_opens_with_plain_xarray, local_stores
    yield
    if request.node.get_closest_marker("damaged_store"):
        return
    for store in local_stores(tmp_path):
        assert_opens_with_plain_xarray(store)
