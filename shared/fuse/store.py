"""Where a store lives (SCHEMA.md section 3, DESIGN.md section 5) and how it is opened.

Precedence: ``STORE_ROOT`` (local directory, store at ``STORE_ROOT/<store_path>``) over
``STORE_URL`` in the environment, over ``ATTRS.STORE_URL``, over ``ATTRS.s3_url`` +
``ATTRS.store_path``. The S3 endpoint is ``S3_ENDPOINT_URL`` from the environment, else
``ATTRS.S3_ENDPOINT_URL``, else ``ATTRS.s3_url``. Credentials come only from the environment.
Upstream names prefixed ``ZF_`` are accepted as aliases.

Every failure to reach the store becomes a ``StoreError`` (transient) naming the endpoint and
the bucket, never the secret key.
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import zarr
from zarr.core.sync import sync

from .errors import FuseError, SchemaError, StoreError

# S3-compatible services (Ceph, older MinIO) reject the newer default streaming checksums.
# read_timeout bounds one attempt against a service that accepts and never answers; it comes
# from S3_READ_TIMEOUT (seconds), so a hung S3 costs at most max_attempts times that per call.
S3_CONFIG = {"request_checksum_calculation": "when_required",
             "response_checksum_validation": "when_required",
             "connect_timeout": 5, "read_timeout": 30,
             "retries": {"max_attempts": 2, "mode": "standard"}}
DEFAULT_S3_READ_TIMEOUT = 30.0


def s3_read_timeout(environ: Mapping[str, str]) -> float:
    """S3_READ_TIMEOUT (or ZF_S3_READ_TIMEOUT) in seconds; SchemaError when not a positive number."""
    text = _env(environ, "S3_READ_TIMEOUT")
    if text is None:
        return DEFAULT_S3_READ_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise SchemaError(f"S3_READ_TIMEOUT: {text!r} is not a positive number of seconds")
    return seconds


@dataclass(frozen=True)
class Location:
    kind: str                      # "local" or "s3"
    path: str                      # local directory, or "bucket/path/in/bucket"
    endpoint: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        return self.path.split("/", 1)[0]

    def describe(self) -> str:
        if self.kind == "local":
            return f"local store {self.path}"
        return f"s3://{self.path} at {self.endpoint or 'the default AWS endpoint'}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name) or environ.get(f"ZF_{name}")
    return value or None


def resolve_location(attrs: Mapping[str, Any], environ: Mapping[str, str], source: str) -> Location:
    """The store location for a schema's root ATTRS under ``environ``."""
    store_url = _env(environ, "STORE_URL") or attrs.get("STORE_URL")
    store_path = attrs.get("store_path")
    root = environ.get("STORE_ROOT")
    if root:
        if store_path:
            rel = str(store_path)
        elif store_url:
            rel = str(store_url).split("://", 1)[-1]
        else:
            raise SchemaError(f"{source}: ATTRS: store_path (or STORE_URL) is needed to place the store under STORE_ROOT")
        return Location("local", str(Path(root) / rel.lstrip("/")))
    if store_url:
        url = str(store_url)
        if url.startswith("s3://"):
            return _s3(url[5:], attrs, environ, source)
        if url.startswith("file://"):
            url = url[7:]
        if "://" in url:
            raise SchemaError(f"{source}: STORE_URL: unsupported scheme in {url!r} (s3://, file:// or a path)")
        return Location("local", str(Path(url).expanduser().absolute()))
    if store_path:
        return _s3(str(store_path), attrs, environ, source)
    raise SchemaError(f"{source}: ATTRS: no store location: give s3_url + store_path or STORE_URL "
                      f"(or set STORE_ROOT / STORE_URL in the environment)")


def _s3(path: str, attrs: Mapping[str, Any], environ: Mapping[str, str], source: str) -> Location:
    path = path.strip("/")
    if not path:
        raise SchemaError(f"{source}: ATTRS/store_path: must be bucket/path")
    endpoint = _env(environ, "S3_ENDPOINT_URL") or attrs.get("S3_ENDPOINT_URL") or attrs.get("s3_url")
    options = attrs.get("S3_OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise SchemaError(f"{source}: ATTRS/S3_OPTIONS: must be a mapping")
    return Location("s3", path, endpoint, dict(options))


def open_zarr_store(location: Location, environ: Mapping[str, str]) -> zarr.abc.store.Store:
    """A zarr store for ``location``; for S3 the bucket is checked to exist and be reachable."""
    if location.kind == "local":
        with store_errors(location):
            Path(location.path).mkdir(parents=True, exist_ok=True)
            return zarr.storage.LocalStore(location.path)
    key, secret = _env(environ, "S3_ACCESS_KEY"), _env(environ, "S3_SECRET_KEY")
    missing = [n for n, v in (("S3_ACCESS_KEY", key), ("S3_SECRET_KEY", secret)) if not v]
    if missing:
        raise StoreError(f"{location.describe()}: missing credential {' and '.join(missing)} "
                         f"(or ZF_{missing[0]}) in the environment")
    import s3fs
    options = dict(location.options)
    config = {**S3_CONFIG, "read_timeout": s3_read_timeout(environ), **options.pop("config_kwargs", {})}
    # chunks are small: one GET each, without the HEAD s3fs sends before a concurrent read
    options.setdefault("max_concurrency", 1)
    fs = s3fs.S3FileSystem(key=key, secret=secret, endpoint_url=location.endpoint,
                           asynchronous=True, skip_instance_cache=True,
                           config_kwargs=config, **options)
    with store_errors(location):
        sync(_check_bucket(fs, location))
        return zarr.storage.FsspecStore(fs, path=location.path, read_only=False)


async def _check_bucket(fs, location: Location) -> None:
    from botocore.exceptions import ClientError
    client = await fs.set_session()
    try:
        await client.head_bucket(Bucket=location.bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise StoreError(f"{location.describe()}: bucket {location.bucket!r} does not exist") from None
        raise


@contextlib.contextmanager
def store_errors(location: Location) -> Iterator[None]:
    """Turn any failure to reach or use the store into a StoreError naming endpoint and bucket."""
    try:
        yield
    except FuseError:
        raise
    except _transient() as exc:   # programming errors are not transient: they pass through
        raise StoreError(f"{location.describe()}: {_reason(exc)}") from exc


def _transient() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [OSError, asyncio.TimeoutError, TimeoutError]
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        kinds += [BotoCoreError, ClientError]
    except ImportError:   # pragma: no cover - botocore comes with s3fs
        pass
    try:
        import aiohttp
        kinds.append(aiohttp.ClientError)
    except ImportError:   # pragma: no cover
        pass
    return tuple(kinds)


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        from botocore.exceptions import ClientError, EndpointConnectionError
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = err.get("Code", "")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
                return f"access denied ({code}): check S3_ACCESS_KEY / S3_SECRET_KEY"
            return f"S3 error {code or status}: {err.get('Message', '')}".strip()
        if isinstance(exc, EndpointConnectionError):
            return "endpoint unreachable (connection refused or no route)"
    except ImportError:   # pragma: no cover - botocore comes with s3fs
        pass
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, PermissionError):
        return f"permission denied ({exc.filename or exc})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{name}: {text}"[:300]


