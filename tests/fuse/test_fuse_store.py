"""SCHEMA.md section 3: where the store is, credentials, clear errors, re-opening a changed schema."""
from __future__ import annotations

import time

import numpy as np
import pytest
import zarr

from fuse_s3 import S3_KEY, S3_SECRET, free_port
from counting_proxy import CountingProxy
from fuse_helpers import one_d_schema, seeded_1d, stored, table
from shared.fuse import SchemaError, StoreError, open_store
from shared.fuse.store import resolve_location


def test_store_root_puts_the_store_under_it_whatever_the_s3_url(tmp_path):
    attrs = {"s3_url": "http://127.0.0.1:9", "store_path": "bucket/dir/a.zarr"}
    node = open_store(one_d_schema(attrs), environ={"STORE_ROOT": str(tmp_path)})
    node.update(table([(1, 2)], ["t", "v"]))
    assert zarr.open_group(str(tmp_path / "bucket/dir/a.zarr"), mode="r")["v"][:].tolist() == [2]


@pytest.mark.parametrize("prefix", ["", "file://"])
def test_a_local_store_url_in_the_schema_or_the_environment(tmp_path, prefix):
    by_schema = open_store(one_d_schema({"STORE_URL": f"{prefix}{tmp_path}/s.zarr"}), environ={})
    by_schema.update(table([(1, 2)], ["t", "v"]))
    by_env = open_store(one_d_schema({"store_path": "x/y"}),
                        environ={"ZF_STORE_URL": f"{prefix}{tmp_path}/s.zarr"})
    assert stored(by_env, "v").tolist() == [2]


def test_the_environment_endpoint_overrides_the_schema_s3_url():
    attrs = {"s3_url": "http://schema:9000", "store_path": "b/p.zarr"}
    assert resolve_location(attrs, {}, "x").endpoint == "http://schema:9000"
    loc = resolve_location(attrs, {"S3_ENDPOINT_URL": "http://env:1"}, "x")
    assert (loc.kind, loc.bucket, loc.endpoint) == ("s3", "b", "http://env:1")
    loc = resolve_location({"STORE_URL": "s3://bk/a/b.zarr"}, {"ZF_S3_ENDPOINT_URL": "http://z:2"}, "x")
    assert (loc.path, loc.endpoint) == ("bk/a/b.zarr", "http://z:2")
    with pytest.raises(SchemaError, match="no store location"):
        resolve_location({}, {}, "x.yaml")


@pytest.mark.s3
def test_a_store_on_s3_through_zf_aliases_and_store_url(moto_server):
    moto_server.make_bucket("alias-bucket")
    environ = {"ZF_S3_ACCESS_KEY": S3_KEY, "ZF_S3_SECRET_KEY": S3_SECRET,
               "ZF_S3_ENDPOINT_URL": moto_server.url}
    node = open_store(one_d_schema({"STORE_URL": "s3://alias-bucket/deep/s.zarr"}), environ=environ)
    node.update(table([(1, 2)], ["t", "v"]))
    assert stored(node, "v").tolist() == [2]
    config = node._store.zarr_store.fs._s3.meta.config      # what Ceph needs (SCHEMA.md section 3)
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"


def test_a_missing_credential_is_a_store_error_naming_it(tmp_path):
    environ = {"S3_ENDPOINT_URL": "http://127.0.0.1:9", "S3_SECRET_KEY": S3_SECRET}
    with pytest.raises(StoreError, match="missing credential S3_ACCESS_KEY") as info:
        open_store(one_d_schema({"store_path": "b/s.zarr"}), environ=environ)
    assert S3_SECRET not in str(info.value)


@pytest.mark.s3
def test_a_missing_bucket_is_a_store_error_naming_it(moto_server):
    environ = {"S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET,
               "S3_ENDPOINT_URL": moto_server.url}
    with pytest.raises(StoreError, match=r"bucket 'no-such-bucket' does not exist") as info:
        open_store(one_d_schema({"store_path": "no-such-bucket/s.zarr"}), environ=environ)
    assert moto_server.url in str(info.value) and S3_SECRET not in str(info.value)


def test_an_unreachable_endpoint_fails_within_seconds_naming_it():
    port = free_port()          # nothing listens there
    environ = {"S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET,
               "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        open_store(one_d_schema({"store_path": "bucket/s.zarr"}), environ=environ)
    assert time.monotonic() - start < 20
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "bucket" in message and S3_SECRET not in message


def test_reopening_with_new_variables_coordinates_and_children_adds_them(local):
    seeded_1d(local)
    grown = one_d_schema(local.attrs())
    grown["VARS"]["w"] = {"coords": ["t"], "unit": "m"}
    grown["VARS"]["g"] = {"coords": ["t", "site"]}
    grown["child"] = {"VARS": {"c": {"coords": "x"}}}
    node = open_store(grown, environ=local.environ)
    ds = node.dataset
    assert ds.w.shape == (4,) and np.isnan(ds.w.values).all() and ds.g.shape == (4, 0)
    node.update(table([(1, 7, 5)], ["t", "site", "w"]))     # every coordinate column is required
    assert stored(node, "w")[1] == 5 and stored(node, "v").tolist() == [10, 11, 12, 13]
    assert node.dataset.g.shape == (4, 1)
    node["child"].update(table([(1, 2)], ["x", "c"]))
    assert stored(node["child"], "c").tolist() == [2]


@pytest.mark.parametrize("change, message", [
    ({"type": "float32"}, r"VARS/v/type: the store has float64, the schema says float32"),
    ({"coords": ["t", "z"]}, r"VARS/v/coords: the store has \['t'\], the schema says \['t', 'z'\]"),
    ({"unit": "m"}, r"VARS/v/unit: the store has None, the schema says 'meter'"),
])
def test_reopening_with_a_changed_variable_is_refused(local, change, message):
    seeded_1d(local)
    changed = one_d_schema(local.attrs())
    changed["VARS"]["v"].update(change)
    with pytest.raises(SchemaError, match=message):
        open_store(changed, environ=local.environ)
    assert stored(open_store(one_d_schema(local.attrs()), environ=local.environ), "v").tolist() == \
        [10, 11, 12, 13]


def test_an_unknown_child_node_is_a_schema_error(local):
    node = open_store(one_d_schema(local.attrs()), environ=local.environ)
    with pytest.raises(SchemaError, match="has no child 'nope'"):
        node["nope"]


@pytest.mark.s3
def test_an_endpoint_lost_mid_life_is_a_store_error_and_the_node_works_again_after(moto_server):
    moto_server.make_bucket("flaky-bucket")
    proxy = CountingProxy(moto_server.port)
    port = int(proxy.url.rsplit(":", 1)[1])
    environ = {"S3_ACCESS_KEY": S3_KEY, "S3_SECRET_KEY": S3_SECRET, "S3_ENDPOINT_URL": proxy.url}
    node = open_store(one_d_schema({"store_path": "flaky-bucket/s.zarr"}), environ=environ)
    node.update(table([(1, 10)], ["t", "v"]))
    proxy.stop()
    with pytest.raises(StoreError, match=rf"s3://flaky-bucket/s.zarr at http://127.0.0.1:{port}"):
        node.update(table([(0, 9), (2, 12)], ["t", "v"]))
    proxy = CountingProxy(moto_server.port, port=port)
    try:
        node.update(table([(0, 9), (2, 12)], ["t", "v"]))
        assert stored(node, "t").tolist() == [0, 1, 2] and stored(node, "v").tolist() == [9, 10, 12]
    finally:
        proxy.stop()
