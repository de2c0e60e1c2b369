#!/usr/bin/env python3
"""One-shot: create the S3 buckets that the configured schemas store into, then exit 0.

Where each store lives is decided exactly as the worker decides it (shared.fuse.store,
SCHEMA.md section 3: the schema's ATTRS and STORE_URL / STORE_ROOT / S3_ENDPOINT_URL from the
environment); stores on a local disk need no bucket. Credentials: S3_ACCESS_KEY / S3_SECRET_KEY
(or their ZF_ aliases). Safe to run again: an existing bucket is left alone.

Settings are read as the worker reads them (environment, then `.env` in the working folder;
ENDPOINTS_CONFIG / SCHEMAS_DIR / PRODUCTION choose the endpoints file), so outside the
container `.venv/bin/python oci/create_buckets.py` from the project folder creates the buckets
that `make run` with S3 would use.
"""
import sys
from collections.abc import Mapping
from pathlib import Path

import s3fs
import yaml

from shared.config import ConfigError, Endpoint, load_settings, merged_environ
from shared.fuse.errors import FuseError
from shared.fuse.store import resolve_location


DOTENV = Path(".env")


def schema_buckets(endpoints: tuple[Endpoint, ...], environ: Mapping[str, str]) -> set[tuple[str | None, str]]:
    """(S3 endpoint URL, bucket) of every store on S3."""
    buckets = set()
    for endpoint in endpoints:
        attrs = (yaml.safe_load(endpoint.schema_path.read_text(encoding="utf-8")) or {}).get("ATTRS") or {}
        location = resolve_location(attrs, environ, endpoint.schema_path.name)
        if location.kind == "s3":
            buckets.add((location.endpoint, location.bucket))
    return buckets


def main() -> int:
    env = merged_environ(dotenv=DOTENV)
    try:
        buckets = schema_buckets(load_settings(dotenv=DOTENV).endpoints, env)
    except (ConfigError, FuseError) as error:
        print(f"ingress-create-buckets: {error}", file=sys.stderr)
        return 2
    for endpoint_url, bucket in sorted(buckets, key=lambda pair: (pair[0] or "", pair[1])):
        s3 = s3fs.S3FileSystem(
            key=env.get("S3_ACCESS_KEY") or env.get("ZF_S3_ACCESS_KEY"),
            secret=env.get("S3_SECRET_KEY") or env.get("ZF_S3_SECRET_KEY"),
            endpoint_url=endpoint_url,
            skip_instance_cache=True,
        )
        if s3.exists(bucket):
            print(f"bucket={bucket} exists")
        else:
            s3.mkdir(bucket)
            print(f"bucket={bucket} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
