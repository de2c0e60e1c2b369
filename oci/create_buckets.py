#!/opt/venv/bin/python
"""One-shot: create the S3 buckets that the configured schemas store into.

Reads ENDPOINTS_CONFIG (entries with schema_path, resolved against SCHEMAS_DIR when set) and each
schema's ATTRS.store_path (`bucket/path`) or ATTRS.STORE_URL (`s3://bucket/path`); creates every
missing bucket at S3_ENDPOINT_URL with S3_ACCESS_KEY / S3_SECRET_KEY. Safe to run again.
"""
import os
import sys
from pathlib import Path

import s3fs
import yaml


def schema_buckets(config_path: Path, schemas_dir: Path | None) -> set[str]:
    buckets = set()
    for entry in yaml.safe_load(config_path.read_text()) or []:
        schema_path = (schemas_dir or config_path.parent) / entry["schema_path"]
        attrs = (yaml.safe_load(schema_path.read_text()) or {}).get("ATTRS", {})
        store = attrs.get("STORE_URL") or attrs.get("store_path") or ""
        if store.startswith("s3://"):
            store = store[len("s3://"):]
        if store and "://" not in store:
            buckets.add(store.split("/", 1)[0])
    return buckets


def main() -> int:
    env = os.environ
    config_path = Path(env.get("ENDPOINTS_CONFIG", "/ingress-server/endpoints_config.yaml"))
    schemas_dir = Path(env["SCHEMAS_DIR"]) if env.get("SCHEMAS_DIR") else None
    endpoint_url = env.get("S3_ENDPOINT_URL") or env.get("ZF_S3_ENDPOINT_URL")
    s3 = s3fs.S3FileSystem(
        key=env.get("S3_ACCESS_KEY") or env.get("ZF_S3_ACCESS_KEY"),
        secret=env.get("S3_SECRET_KEY") or env.get("ZF_S3_SECRET_KEY"),
        client_kwargs={"endpoint_url": endpoint_url} if endpoint_url else {},
    )
    for bucket in sorted(schema_buckets(config_path, schemas_dir)):
        if s3.exists(bucket):
            print(f"bucket={bucket} exists")
        else:
            s3.mkdir(bucket)
            print(f"bucket={bucket} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
