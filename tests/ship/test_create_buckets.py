"""The compose stack's one-shot bucket creator finds the buckets the schemas name, and creates them."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "oci" / "create_buckets.py"
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_stack import KEY, SECRET, MotoServer  # noqa: E402

from shared.config import load_endpoints  # noqa: E402


def load_script():
    spec = importlib.util.spec_from_file_location("create_buckets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_buckets_come_from_the_store_paths_of_the_shipped_schemas() -> None:
    endpoints = load_endpoints(REPO / "schemas" / "endpoints_config.yaml")
    assert load_script().schema_buckets(endpoints, {}) == {("http://127.0.0.1:9000", "zarr-fuse-ingress")}
    s3 = {"S3_ENDPOINT_URL": "http://s3:9000"}
    assert load_script().schema_buckets(endpoints, s3) == {("http://s3:9000", "zarr-fuse-ingress")}


def test_stores_on_a_local_disk_need_no_bucket(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("ATTRS: {STORE_URL: 's3://other-bucket/a.zarr'}\n")
    (tmp_path / "b.yaml").write_text("ATTRS: {STORE_URL: '/data/b.zarr'}\n")
    (tmp_path / "endpoints.yaml").write_text(
        "- {name: a, endpoint: /a, schema_path: a.yaml}\n- {name: b, endpoint: /b, schema_path: b.yaml}\n")
    endpoints = load_endpoints(tmp_path / "endpoints.yaml")
    assert load_script().schema_buckets(endpoints, {}) == {(None, "other-bucket")}
    assert load_script().schema_buckets(endpoints, {"STORE_ROOT": str(tmp_path)}) == set()


@pytest.mark.slow
def test_running_it_twice_against_a_real_s3_server_creates_the_bucket_once(tmp_path: Path) -> None:
    server = MotoServer(tmp_path, tmp_path)
    try:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "ENDPOINTS_CONFIG": str(REPO / "schemas" / "endpoints_config.yaml"),
               "S3_ENDPOINT_URL": server.url, "S3_ACCESS_KEY": KEY, "S3_SECRET_KEY": SECRET}
        runs = [subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
                for _ in range(2)]
    finally:
        server.close()
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert runs[0].stdout.strip() == "bucket=zarr-fuse-ingress created"
    assert runs[1].stdout.strip() == "bucket=zarr-fuse-ingress exists"


@pytest.mark.slow
def test_outside_the_container_it_reads_dotenv_and_the_workers_default_endpoints_file(tmp_path: Path) -> None:
    server = MotoServer(tmp_path, tmp_path)
    try:
        (tmp_path / ".env").write_text(
            f"S3_ENDPOINT_URL={server.url}\nS3_ACCESS_KEY={KEY}\nS3_SECRET_KEY={SECRET}\n", encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}  # no ENDPOINTS_CONFIG: the worker's default
        run = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
    finally:
        server.close()
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "bucket=zarr-fuse-ingress created"
