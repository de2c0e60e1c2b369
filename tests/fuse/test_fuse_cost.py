"""Rule 9: the cost of a merge follows the change, not the store."""
from __future__ import annotations

from pathlib import Path

import pytest

from fuse_s3 import S3_KEY, S3_SECRET
from counting_proxy import CountingProxy
from fuse_helpers import table
from shared.fuse import open_store

COLS = ["time", "station", "a", "b", "c"]


def schema(attrs):
    return {"ATTRS": attrs,
            "COORDS": {"time": {"unit": {"tick": "s", "epoch": True}, "chunk_size": 4},
                       "station": {"type": "str", "sorted": False, "chunk_size": 2}},
            "VARS": {v: {"coords": ["time", "station"]} for v in ("a", "b", "c")}}


def append(node, i: int) -> None:
    node.update(table([(1_800_000_000 + 60 * i, f"s{i % 3}", i, i, i)], COLS))


def files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_an_append_rewrites_only_tail_chunks_and_metadata(local):
    node = open_store(schema(local.attrs()), environ=local.environ)
    for i in range(21):
        append(node, i)
    before = files(local.local_path())
    append(node, 21)
    changed = {p for p, mtime in files(local.local_path()).items() if before.get(p) != mtime}
    time_chunk = 21 // 4
    for path in changed:
        parts = Path(path).parts
        assert parts[-1] == "zarr.json" or (parts[1] == "c" and int(parts[2]) == time_chunk), path
    assert len(changed) <= 8


@pytest.mark.s3
def test_an_append_on_s3_costs_a_bounded_number_of_requests(moto_server):
    moto_server.make_bucket("cost-bucket")
    proxy = CountingProxy(moto_server.port)
    try:
        environ = {"S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET, "S3_ENDPOINT_URL": proxy.url}
        node = open_store(schema({"store_path": "cost-bucket/s.zarr"}), environ=environ)
        counts = []
        for i in range(12):
            start = proxy.total()
            append(node, i)
            counts.append(proxy.since(start))
        last = counts[-1]
        assert len(last) <= 15, last
        assert not any("list-type" in path for _, path in last)      # no listing per upload
        keys = [path.split("?")[0].strip("/").split("/")[2:] for _, path in last]   # array/...
        chunk_rows = {key[2] for key in keys if len(key) >= 3 and key[1] == "c"}
        assert chunk_rows == {str(11 // 4)}      # only the tail chunk row of time
    finally:
        proxy.stop()
