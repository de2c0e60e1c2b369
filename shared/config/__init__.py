"""Settings of gateway and worker, read once from the environment (and `.env` when present).

Every field of `Settings` comes from one environment variable of the same name in upper case
(DESIGN.md section 5). `load_settings()` validates everything, including the endpoints file, and
raises `ConfigError` whose text is one line naming the variable, or the file and the key, so a
bad deployment stops at start-up instead of failing at the first upload.

Passwords and secret keys are kept out of `repr(Settings)` so that a logged settings object
never leaks them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from shared.config.endpoints import (
    DEFAULT_CONTENT_TYPES, RESERVED_ROUTES, Endpoint, EndpointsFile, SmtpSettings, load_endpoints,
    read_endpoints_file,
)
from shared.config.errors import ConfigError
from shared.config.scrapers import Scraper
from shared.config.users import User, read_users_file
from shared.logs import LOG_FORMATS

__all__ = [
    "ConfigError", "DEFAULT_CONTENT_TYPES", "Endpoint", "EndpointsFile", "RESERVED_ROUTES", "Settings",
    "SmtpSettings", "User", "load_endpoints", "load_settings", "merged_environ", "read_dotenv", "read_endpoints_file",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMAS_DIR = PROJECT_ROOT / "schemas"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    log_format: str = "logfmt"  # shared/logs.py: logfmt | json
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
    # From the endpoints file's `configuration.smtp` / `active_scrappers`: read and validated,
    # for the alerts (shared/notify.py) and the scheduler (scheduler/).
    smtp: SmtpSettings | None = None
    scrappers: tuple[Mapping[str, Any], ...] = ()  # raw entries, as written
    scrapers: tuple[Scraper, ...] = ()  # validated: what the scheduler runs
    config_warnings: tuple[str, ...] = ()  # logged once by each process at start
    max_columns: int = 2_000
    public_docs: bool = True  # False: /metrics and /openapi.json need credentials too
    operators: tuple[str, ...] = ()  # users who may read every upload's status
    s3_read_timeout: float = 30.0  # seconds one S3 attempt may wait for an answer (the engine reads it too)
    users_file: Path | None = None  # USERS_FILE: YAML users (shared/config/users.py), re-read by the gateway
    file_users: tuple[User, ...] = field(default=(), repr=False)  # its users as read at start
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # may set X-Forwarded-For
    login_failures_max: int = 10  # failed logins per client address, and per user name, in a window ...
    login_failures_window: float = 60.0  # ... of this many seconds; then 429 until the window ends

    @property
    def queue_endpoints(self) -> tuple[Endpoint, ...]:
        """Every queue folder the worker merges: the upload endpoints and one per scraper.

        A scraper's items are uploads in all but origin, so the worker reads them through the
        same kind of endpoint (its schema, extractor and config folder); the gateway serves
        only `endpoints`.
        """
        pulled = tuple(
            Endpoint(name=s.name, route=f"/scrapers/{s.name}", schema_path=s.schema_path, target_node=s.target_node,
                     fn_module=s.fn_module, extract_fn=s.extract_fn, content_types=("*/*",), config_dir=s.config_dir)
            for s in self.scrapers
        )
        return self.endpoints + pulled

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
    env = merged_environ(environ, dotenv=dotenv)
    reader = _Reader(env)

    production = reader.boolean("PRODUCTION", False)
    schemas_dir = _absolute(reader.path("SCHEMAS_DIR"))
    default_config = (schemas_dir or DEFAULT_SCHEMAS_DIR) / (
        "prod_endpoints_config.yaml" if production else "endpoints_config.yaml"
    )
    # CONFIG_PATH and QUEUE_DIR_PATH are the original server's names for the same settings.
    endpoints_config = (reader.path("ENDPOINTS_CONFIG", "CONFIG_PATH") or default_config).absolute()
    config = read_endpoints_file(endpoints_config, schemas_dir, smtp_password=reader.text("SMTP_PASSWORD"))
    # The file's configuration.base fills in what the environment does not set.
    reader = _Reader(env, defaults=config.base)
    users = reader.users("BASIC_AUTH_USERS_JSON")
    users_file = _absolute(reader.path("USERS_FILE"))
    file_users = read_users_file(users_file, (e.name for e in config.endpoints), users) if users_file else ()

    return Settings(
        queue_dir=(reader.path("QUEUE_DIR", "QUEUE_DIR_PATH") or Path("data/queue")).absolute(),
        endpoints_config=endpoints_config,
        endpoints=config.endpoints,
        smtp=config.smtp,
        scrappers=config.scrappers,
        scrapers=config.scrapers,
        config_warnings=config.warnings,
        production=production,
        auth_enabled=reader.boolean("AUTH_ENABLED", True),
        users=users,
        users_file=users_file,
        file_users=file_users,
        trusted_proxies=reader.networks("TRUSTED_PROXIES"),
        login_failures_max=reader.integer("LOGIN_FAILURES_MAX", 10, minimum=1),
        login_failures_window=reader.number("LOGIN_FAILURES_WINDOW", 60.0, minimum=1.0),
        max_upload_bytes=reader.integer("MAX_UPLOAD_BYTES", 32 * 1024 * 1024, minimum=1),
        min_free_bytes=reader.integer("MIN_FREE_BYTES", 100 * 1024 * 1024, minimum=0),
        queue_max_items=reader.integer("QUEUE_MAX_ITEMS", 10_000, minimum=1),
        port=reader.integer("PORT", 8000, minimum=0, maximum=65535),
        log_level=reader.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        log_format=reader.choice("LOG_FORMAT", "LOGFMT", tuple(f.upper() for f in LOG_FORMATS)).lower(),
        schemas_dir=schemas_dir,
        store_root=_absolute(reader.path("STORE_ROOT")),
        store_url=reader.text("STORE_URL", "ZF_STORE_URL"),
        s3_endpoint_url=reader.text("S3_ENDPOINT_URL", "ZF_S3_ENDPOINT_URL"),
        s3_access_key=reader.text("S3_ACCESS_KEY", "ZF_S3_ACCESS_KEY"),
        s3_secret_key=reader.text("S3_SECRET_KEY", "ZF_S3_SECRET_KEY"),
        worker_batch_items=reader.integer("WORKER_BATCH_ITEMS", 1000, minimum=1),
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


class _Reader:
    """Typed access to environment variables; every error names the variable."""

    def __init__(self, env: Mapping[str, str], defaults: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.env = env
        self.defaults = defaults or {}  # variable -> (where in the endpoints file, value)
        self.origin: dict[str, str] = {}  # variable -> what an error names when the file set it

    def raw(self, *names: str) -> tuple[str, str] | None:
        for name in names:
            value = self.env.get(name)
            if value is not None and value.strip() != "":
                return name, value.strip()
        if names and names[0] in self.defaults:
            where, value = self.defaults[names[0]]
            self.origin[names[0]] = where
            return names[0], value.strip()
        return None

    def text(self, *names: str) -> str | None:
        found = self.raw(*names)
        return found[1] if found else None

    def path(self, *names: str) -> Path | None:
        value = self.text(*names)
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
        raise ConfigError(f"{self.label(name)}: {value!r} is not a boolean (use true or false)")

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{self.label(name)}: {value!r} is not a whole number") from None
        return self._bounded(name, number, minimum, maximum)

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{self.label(name)}: {value!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(f"{self.label(name)}: {value!r} is not a finite number")
        return self._bounded(name, number, minimum, None)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value is None:
            return default
        if value.upper() not in allowed:
            raise ConfigError(f"{self.label(name)}: {value!r} is not one of {', '.join(allowed)}")
        return value.upper()

    def names(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of user names ("alice,bob")."""
        value = self.text(name)
        if value is None:
            return ()
        names = tuple(n.strip() for n in value.split(","))
        if not all(names):
            raise ConfigError(f"{self.label(name)}: {value!r} has an empty name (use a comma-separated list like alice,bob)")
        return names

    def networks(self, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """A comma-separated list of addresses or networks ("127.0.0.1, 10.0.0.0/8")."""
        value = self.text(name)
        if value is None:
            return ()
        networks = []
        for part in (p.strip() for p in value.split(",")):
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ConfigError(f"{self.label(name)}: {part!r} is not an IP address or network like 10.0.0.0/8 "
                                  "(use a comma-separated list)") from None
        return tuple(networks)

    def users(self, name: str) -> dict[str, str]:
        value = self.text(name)
        if value is None:
            return {}
        try:
            users: Any = json.loads(value)
        except json.JSONDecodeError as error:
            # The message names the position only: the value holds passwords.
            raise ConfigError(f"{self.label(name)}: not valid JSON (at character {error.pos})") from None
        if not isinstance(users, dict) or not all(
            isinstance(user, str) and user and ":" not in user and isinstance(secret, str) and secret
            for user, secret in users.items()
        ):
            raise ConfigError(f'{name}: expected a JSON object {{"user": "password-or-werkzeug-hash"}}')
        return users

    def label(self, name: str) -> str:
        return self.origin.get(name, name)

    def _bounded(self, name: str, number: Any, minimum: Any, maximum: Any) -> Any:
        if minimum is not None and number < minimum:
            raise ConfigError(f"{self.label(name)}: {number} is below the minimum {minimum}")
        if maximum is not None and number > maximum:
            raise ConfigError(f"{self.label(name)}: {number} is above the maximum {maximum}")
        return number
