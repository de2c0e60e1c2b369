"""Settings of gateway and worker, read once from the environment (and `.env` when present).

Every field of `Settings` comes from one environment variable of the same name in upper case
(DESIGN.md section 5). `load_settings()` validates everything, including the endpoints file, and
raises `ConfigError` whose text is one line naming the variable, or the file and the key, so a
bad deployment stops at start-up instead of failing at the first upload.

Passwords and secret keys are kept out of `repr(Settings)` so that a logged settings object
never leaks them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMAS_DIR = PROJECT_ROOT / "schemas"

# Routes the gateway serves itself; an upload endpoint may not shadow them.
RESERVED_ROUTES = ("/health", "/ready", "/metrics", "/openapi.json", "/api/v1/uploads")

ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ROUTE = re.compile(r"(/[A-Za-z0-9_.-]+)+")
ENDPOINT_KEYS = ("name", "endpoint", "schema_path", "users", "extra_columns")
EXTRA_COLUMNS = ("ignore", "reject")  # what an upload's columns unknown to the schema get
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """Invalid configuration; `str()` is one line naming the variable, or the file and key."""


@dataclass(frozen=True)
class Endpoint:
    name: str  # "tree": also the folder name under accepted/, done/, failed/
    route: str  # "/api/v1/tree"
    schema_path: Path  # absolute
    users: tuple[str, ...] | None = None  # None: every authenticated user
    extra_columns: str = "ignore"  # "ignore": recorded on the item as ignored_columns; "reject": 400


@dataclass(frozen=True)
class Settings:
    queue_dir: Path
    endpoints_config: Path
    endpoints: tuple[Endpoint, ...]
    production: bool = False
    auth_enabled: bool = True
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    max_upload_bytes: int = 32 * 1024 * 1024
    min_free_bytes: int = 100 * 1024 * 1024
    queue_max_items: int = 10_000
    port: int = 8000
    log_level: str = "INFO"
    schemas_dir: Path | None = None
    store_root: Path | None = None
    store_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    worker_batch_items: int = 200
    worker_batch_rows: int = 200_000
    worker_poll_seconds: float = 2.0
    worker_retry_max_seconds: float = 60.0
    done_retention_days: float = 7.0
    worker_metrics_port: int = 9101
    max_columns: int = 2_000
    public_docs: bool = True  # False: /metrics and /openapi.json need credentials too
    operators: tuple[str, ...] = ()  # users who may read every upload's status
    s3_read_timeout: float = 30.0  # seconds one S3 attempt may wait for an answer (the engine reads it too)

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint called `name`; KeyError when there is none."""
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        raise KeyError(name)


def merged_environ(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
) -> dict[str, str]:
    """The environment completed by `.env`: what every process reads its settings from.

    The merge engine takes its store location and credentials (STORE_ROOT, S3_*) from this
    mapping too, so a `.env` means the same to the worker's stores as to its settings.
    """
    env: dict[str, str] = {}
    if dotenv is not None and Path(dotenv).is_file():
        env.update(read_dotenv(Path(dotenv)))
    env.update(os.environ if environ is None else environ)
    return env


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
) -> Settings:
    """Settings from `environ` (default `os.environ`), completed by the `.env` file when present.

    Variables already set in the environment win over `.env`, as with docker and systemd.
    """
    reader = _Reader(merged_environ(environ, dotenv=dotenv))

    production = reader.boolean("PRODUCTION", False)
    schemas_dir = _absolute(reader.path("SCHEMAS_DIR"))
    default_config = (schemas_dir or DEFAULT_SCHEMAS_DIR) / (
        "prod_endpoints_config.yaml" if production else "endpoints_config.yaml"
    )
    endpoints_config = (reader.path("ENDPOINTS_CONFIG") or default_config).absolute()
    endpoints = load_endpoints(endpoints_config, schemas_dir)

    return Settings(
        queue_dir=(reader.path("QUEUE_DIR") or Path("data/queue")).absolute(),
        endpoints_config=endpoints_config,
        endpoints=endpoints,
        production=production,
        auth_enabled=reader.boolean("AUTH_ENABLED", True),
        users=reader.users("BASIC_AUTH_USERS_JSON"),
        max_upload_bytes=reader.integer("MAX_UPLOAD_BYTES", 32 * 1024 * 1024, minimum=1),
        min_free_bytes=reader.integer("MIN_FREE_BYTES", 100 * 1024 * 1024, minimum=0),
        queue_max_items=reader.integer("QUEUE_MAX_ITEMS", 10_000, minimum=1),
        port=reader.integer("PORT", 8000, minimum=0, maximum=65535),
        log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        schemas_dir=schemas_dir,
        store_root=_absolute(reader.path("STORE_ROOT")),
        store_url=reader.text("STORE_URL", "ZF_STORE_URL"),
        s3_endpoint_url=reader.text("S3_ENDPOINT_URL", "ZF_S3_ENDPOINT_URL"),
        s3_access_key=reader.text("S3_ACCESS_KEY", "ZF_S3_ACCESS_KEY"),
        s3_secret_key=reader.text("S3_SECRET_KEY", "ZF_S3_SECRET_KEY"),
        worker_batch_items=reader.integer("WORKER_BATCH_ITEMS", 200, minimum=1),
        worker_batch_rows=reader.integer("WORKER_BATCH_ROWS", 200_000, minimum=1),
        worker_poll_seconds=reader.number("WORKER_POLL_SECONDS", 2.0, minimum=0.01),
        worker_retry_max_seconds=reader.number("WORKER_RETRY_MAX_SECONDS", 60.0, minimum=0.01),
        done_retention_days=reader.number("DONE_RETENTION_DAYS", 7.0, minimum=0.0),
        worker_metrics_port=reader.integer("WORKER_METRICS_PORT", 9101, minimum=0, maximum=65535),
        max_columns=reader.integer("MAX_COLUMNS", 2_000, minimum=1),
        public_docs=reader.boolean("PUBLIC_DOCS", True),
        operators=reader.names("OPERATORS"),
        s3_read_timeout=reader.number("S3_READ_TIMEOUT", 30.0, minimum=0.1),
    )


def load_endpoints(config_file: Path, schemas_dir: Path | None = None) -> tuple[Endpoint, ...]:
    """The validated entries of an endpoints file (a top-level YAML list of mappings)."""
    where = str(config_file)
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"ENDPOINTS_CONFIG: cannot read {where}: {error.strerror}") from None
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}:{line} not valid YAML") from None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: expected a non-empty list of endpoints")

    base = schemas_dir if schemas_dir is not None else config_file.parent
    endpoints: list[Endpoint] = []
    for index, entry in enumerate(entries):
        at = f"{where}: [{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a mapping with keys {', '.join(ENDPOINT_KEYS)}")
        for key in entry:
            if key not in ENDPOINT_KEYS:
                raise ConfigError(f"{at}.{key}: unknown key (allowed: {', '.join(ENDPOINT_KEYS)})")
        for key in ("name", "endpoint", "schema_path"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{at}.{key}: missing (a non-empty string is required)")
        name, route = entry["name"], entry["endpoint"].rstrip("/")
        at = f"{where}: [{index}] ({name})"
        if not ENDPOINT_NAME.fullmatch(name):
            raise ConfigError(f"{at}.name: {name!r} must be letters, digits, '_' or '-'")
        if not ROUTE.fullmatch(route) or any(s in (".", "..") for s in route.split("/")):
            raise ConfigError(f"{at}.endpoint: {entry['endpoint']!r} is not a plain URL path like /api/v1/{name}")
        for reserved in RESERVED_ROUTES:
            if _nests(route, reserved):
                raise ConfigError(f"{at}.endpoint: {route!r} collides with the gateway's own {reserved}")
        for other in endpoints:
            if other.name == name:
                raise ConfigError(f"{at}.name: duplicate endpoint name {name!r}")
            if _nests(route, other.route):
                raise ConfigError(f"{at}.endpoint: {route!r} collides with endpoint {other.name!r} ({other.route})")
        schema_path = (base / entry["schema_path"]).absolute()
        if not schema_path.is_file():
            raise ConfigError(f"{at}.schema_path: schema file {schema_path} not found")
        users = entry.get("users")
        if users is not None:
            if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
                raise ConfigError(f"{at}.users: expected a list of user names")
            users = tuple(users)
        extra_columns = entry.get("extra_columns", "ignore")
        if extra_columns not in EXTRA_COLUMNS:
            raise ConfigError(f"{at}.extra_columns: {extra_columns!r} is not one of {', '.join(EXTRA_COLUMNS)}")
        endpoints.append(Endpoint(name=name, route=route, schema_path=schema_path, users=users,
                                  extra_columns=extra_columns))
    return tuple(endpoints)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a `.env` file; `#` comments, `export ` prefixes and quotes allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path}: line {number}: expected KEY=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def _absolute(path: Path | None) -> Path | None:
    return path.absolute() if path is not None else None


def _nests(route: str, other: str) -> bool:
    """True when one route equals the other or lies below it (it would swallow its node paths)."""
    return route == other or route.startswith(other + "/") or other.startswith(route + "/")


class _Reader:
    """Typed access to environment variables; every error names the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def raw(self, *names: str) -> tuple[str, str] | None:
        for name in names:
            value = self.env.get(name)
            if value is not None and value.strip() != "":
                return name, value.strip()
        return None

    def text(self, *names: str) -> str | None:
        found = self.raw(*names)
        return found[1] if found else None

    def path(self, name: str) -> Path | None:
        value = self.text(name)
        return Path(value).expanduser() if value else None

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: {value!r} is not a boolean (use true or false)")

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a whole number") from None
        return self._bounded(name, number, minimum, maximum)

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{name}: {value!r} is not a finite number")
        return self._bounded(name, number, minimum, None)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value is None:
            return default
        if value.upper() not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value.upper()

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of user names ("alice,bob")."""
        value = self.text(name)
        if value is None:
            return ()
        names = tuple(n.strip() for n in value.split(","))
        if not all(names):
            raise ConfigError(f"{name}: {value!r} has an empty name (use a comma-separated list like alice,bob)")
        return names

    def users(self, name: str) -> dict[str, str]:
        value = self.text(name)
        if value is None:
            return {}
        try:
            users: Any = json.loads(value)
        except json.JSONDecodeError as error:
            # The message names the position only: the value holds passwords.
            raise ConfigError(f"{name}: not valid JSON (at character {error.pos})") from None
        if not isinstance(users, dict) or not all(
            isinstance(user, str) and user and ":" not in user and isinstance(secret, str) and secret
            for user, secret in users.items()
        ):
            raise ConfigError(f'{name}: expected a JSON object {{"user": "password-or-werkzeug-hash"}}')
        return users

    @staticmethod
    def _bounded(name: str, number: Any, minimum: Any, maximum: Any) -> Any:
        if minimum is not None and number < minimum:
            raise ConfigError(f"{name}: {number} is below the minimum {minimum}")
        if maximum is not None and number > maximum:
            raise ConfigError(f"{name}: {number} is above the maximum {maximum}")
        return number
