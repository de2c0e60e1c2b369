"""The endpoints file in every form the original zarr-fuse ingress server has used.

One loader knows every key (DESIGN.md section 6):

* a bare list of endpoint entries (this service's first form);
* a mapping with `endpoints:` (the original design);
* the later form with top-level `configuration` (`base`, `smtp`), `endpoints` and
  `active_scrappers`, each optional.

Endpoint entries are flat or carry their data-source keys nested under `data_source:`. An
unknown key is an error naming it with a "did you mean". `active_scrappers` entries are
validated in shared/config/scrapers.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.config.durations import parse_duration
from shared.config.errors import ConfigError, check_keys as _check_keys
from shared.config.scrapers import Scraper, load_scrapers

# Routes the gateway serves itself; an upload endpoint may not shadow them.
RESERVED_ROUTES = ("/health", "/ready", "/metrics", "/openapi.json", "/api/v1/uploads")

ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ROUTE = re.compile(r"(/[A-Za-z0-9_.-]+)+")
NODE_SEGMENT = re.compile(r"[\w\-. ]+")
DOTTED_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9*][a-z0-9!#$&^_.+*-]*")

TOP_LEVEL_KEYS = ("configuration", "endpoints", "active_scrappers")
CONFIGURATION_KEYS = ("base", "smtp")
# configuration.base key -> the environment variable it stands in for (the variable wins).
BASE_KEYS = {
    "queue_dir_path": "QUEUE_DIR",
    "log_level": "LOG_LEVEL",
    "port": "PORT",
    "worker_poll_interval": "WORKER_POLL_SECONDS",
}
SMTP_KEYS = ("notify_to", "host", "port", "from_email", "username")
# Keys that may sit flat on an entry or nested under `data_source:`.
DATA_SOURCE_KEYS = ("schema_path", "target_node", "extract_fn", "fn_module", "content_types")
ENDPOINT_KEYS = (
    "name", "endpoint", "users", "extra_columns", "format", "expect_every", "campbell_basic", "data_source",
    *DATA_SOURCE_KEYS,
)
# `format:` values: shared/formats module names (spelled out here: config does not import parsers).
UPLOAD_FORMATS = ("csv", "json", "toa5", "csijson", "ttn", "chirpstack")
EXTRA_COLUMNS = ("ignore", "reject")  # what an upload's columns unknown to the schema get
DEFAULT_CONTENT_TYPES = ("application/json", "text/csv")
SMTP_DEFAULT_PORT = 587


@dataclass(frozen=True)
class Endpoint:
    name: str  # "tree": also the folder name under accepted/, done/, failed/
    route: str  # "/api/v1/tree"
    schema_path: Path  # absolute
    users: tuple[str, ...] | None = None  # None: every authenticated user
    target_node: str = ""  # uploads go below this node ("" is the store root)
    fn_module: str | None = None  # extractor plugin: dotted module inside config_dir ...
    extract_fn: str | None = None  # ... and the function in it
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES  # accepted by an extractor endpoint
    config_dir: Path | None = None  # folder of the endpoints file: where fn_module is resolved
    extra_columns: str = "ignore"  # "ignore": recorded on the item as ignored_columns; "reject": 400
    format: str | None = None  # `format:`: every upload is read as this; None: detected by content
    expect_every: float | None = None  # `expect_every:` in seconds: a logger silent longer is reported
    # `campbell_basic: true`: also Campbell's `Authorization: Basic base64(user):base64(password)`
    campbell_basic: bool = False

    @property
    def extractor(self) -> str | None:
        """`module:function` of the endpoint's extractor plugin, None without one."""
        return f"{self.fn_module}:{self.extract_fn}" if self.fn_module else None

    def node_path(self, below: str) -> str:
        """The store node of an upload to `{route}/{below}`: below the endpoint's target node."""
        return "/".join(part for part in (self.target_node, below) if part)


@dataclass(frozen=True)
class SmtpSettings:
    """`configuration.smtp`: where alerts go (shared/notify.py)."""

    notify_to: tuple[str, ...]
    host: str | None = None
    port: int = SMTP_DEFAULT_PORT
    from_email: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # from SMTP_PASSWORD only


@dataclass(frozen=True)
class EndpointsFile:
    path: Path
    endpoints: tuple[Endpoint, ...]
    base: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # env name -> (file key, value)
    smtp: SmtpSettings | None = None
    scrappers: tuple[Mapping[str, Any], ...] = ()  # the raw entries, as written
    warnings: tuple[str, ...] = ()
    scrapers: tuple[Scraper, ...] = ()  # the same, validated (shared/config/scrapers.py)


def load_endpoints(config_file: Path, schemas_dir: Path | None = None) -> tuple[Endpoint, ...]:
    """The validated endpoint entries of an endpoints file, whatever its form."""
    return read_endpoints_file(config_file, schemas_dir).endpoints


def read_endpoints_file(
    config_file: Path, schemas_dir: Path | None = None, *, smtp_password: str | None = None
) -> EndpointsFile:
    where = str(config_file)
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"ENDPOINTS_CONFIG: cannot read {where}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}:{line} not valid YAML") from None

    if isinstance(document, dict):
        _check_keys(f"{where}: ", document, TOP_LEVEL_KEYS)
        entries = document.get("endpoints")
        configuration = document.get("configuration")
        scrappers = document.get("active_scrappers")
    else:
        entries, configuration, scrappers = document, None, None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: expected a non-empty list of endpoints (a YAML list, or a mapping with endpoints:)")

    base, smtp, warnings = _configuration(where, configuration, smtp_password)
    schema_base = schemas_dir if schemas_dir is not None else config_file.parent
    scrapers = load_scrapers(where, scrappers, schema_base, config_file.parent)
    endpoints = _endpoints(where, entries, schema_base, config_file.parent)
    for index, scraper in enumerate(scrapers):
        if any(endpoint.name == scraper.name for endpoint in endpoints):
            raise ConfigError(f"{where}: active_scrappers[{index}] ({scraper.name}).name: also an endpoint's name; "
                              "each names its own queue folder, so pick another")
    return EndpointsFile(config_file, endpoints, base, smtp, tuple(scrappers or ()), tuple(warnings), scrapers)


def _configuration(
    where: str, configuration: Any, smtp_password: str | None
) -> tuple[dict[str, tuple[str, str]], SmtpSettings | None, list[str]]:
    warnings: list[str] = []
    if configuration is None:
        return {}, None, warnings
    if not isinstance(configuration, dict):
        raise ConfigError(f"{where}: configuration: expected a mapping with keys {', '.join(CONFIGURATION_KEYS)}")
    _check_keys(f"{where}: configuration.", configuration, CONFIGURATION_KEYS)
    base: dict[str, tuple[str, str]] = {}
    raw_base = configuration.get("base") or {}
    if not isinstance(raw_base, dict):
        raise ConfigError(f"{where}: configuration.base: expected a mapping with keys {', '.join(BASE_KEYS)}")
    _check_keys(f"{where}: configuration.base.", raw_base, tuple(BASE_KEYS))
    for key, value in raw_base.items():
        if value is None:
            continue
        if isinstance(value, (dict, list, bool)):
            raise ConfigError(f"{where}: configuration.base.{key}: expected a plain value, got {value!r}")
        base[BASE_KEYS[key]] = (f"{where}: configuration.base.{key}", str(value))
    smtp = _smtp(where, configuration.get("smtp"), smtp_password)
    return base, smtp, warnings


def _smtp(where: str, raw: Any, password: str | None) -> SmtpSettings | None:
    if raw is None:
        return None
    at = f"{where}: configuration.smtp"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: expected a mapping with keys {', '.join(SMTP_KEYS)}")
    if "password" in raw:
        raise ConfigError(f"{at}.password: not allowed in the file: set SMTP_PASSWORD in the environment")
    _check_keys(f"{at}.", raw, SMTP_KEYS)
    notify = raw.get("notify_to")
    if notify is None:
        notify = []  # empty recipients: mail is off, said once at start (shared/notify.py)
    if isinstance(notify, str):
        notify = [part.strip() for part in notify.split(",") if part.strip()]
    if not isinstance(notify, list) or not all(isinstance(a, str) and "@" in a for a in notify):
        raise ConfigError(f"{at}.notify_to: expected e-mail addresses (a list, or one comma-separated string)")
    port = raw.get("port", SMTP_DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"{at}.port: {port!r} is not a port number")
    text: dict[str, str | None] = {}
    for key in ("host", "from_email", "username"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{at}.{key}: expected a string, got {value!r}")
        text[key] = value
    return SmtpSettings(tuple(notify), text["host"], port, text["from_email"], text["username"], password or None)


def _endpoints(where: str, entries: list[Any], schema_base: Path, config_dir: Path) -> tuple[Endpoint, ...]:
    endpoints: list[Endpoint] = []
    for index, raw in enumerate(entries):
        at = f"{where}: [{index}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at}: expected a mapping with keys {', '.join(ENDPOINT_KEYS)}")
        entry = _flatten(at, raw)
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
        schema_path = (schema_base / entry["schema_path"]).absolute()
        if not schema_path.is_file():
            raise ConfigError(f"{at}.schema_path: schema file {schema_path} not found")
        users = entry.get("users")
        if users is not None:
            if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
                raise ConfigError(f"{at}.users: expected a list of user names")
            users = tuple(users)
        fn_module, extract_fn = _extractor(at, entry)
        extra_columns = entry.get("extra_columns", "ignore")
        if extra_columns not in EXTRA_COLUMNS:
            raise ConfigError(f"{at}.extra_columns: {extra_columns!r} is not one of {', '.join(EXTRA_COLUMNS)}")
        upload_format = entry.get("format")
        if upload_format is not None and upload_format not in UPLOAD_FORMATS:
            raise ConfigError(f"{at}.format: {upload_format!r} is not one of {', '.join(UPLOAD_FORMATS)}")
        if upload_format is not None and fn_module is not None:
            raise ConfigError(f"{at}.format: an endpoint with an extractor (fn_module) reads its own bytes; "
                              "drop format or the extractor")
        campbell_basic = entry.get("campbell_basic", False)
        if not isinstance(campbell_basic, bool):
            raise ConfigError(f"{at}.campbell_basic: expected true or false, got {campbell_basic!r}")
        endpoints.append(Endpoint(
            name=name, route=route, schema_path=schema_path, users=users,
            target_node=_target_node(at, entry.get("target_node")),
            fn_module=fn_module, extract_fn=extract_fn,
            content_types=_content_types(at, entry.get("content_types"), fn_module is not None),
            config_dir=config_dir.absolute(), extra_columns=extra_columns, format=upload_format,
            expect_every=_expect_every(at, entry.get("expect_every")),
            campbell_basic=campbell_basic,
        ))
    return tuple(endpoints)


def _flatten(at: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with its `data_source:` keys lifted beside the others (each key given once)."""
    _check_keys(f"{at}.", raw, ENDPOINT_KEYS)
    entry = {k: v for k, v in raw.items() if k != "data_source"}
    source = raw.get("data_source")
    if source is None:
        return entry
    if not isinstance(source, dict):
        raise ConfigError(f"{at}.data_source: expected a mapping with keys {', '.join(DATA_SOURCE_KEYS)}")
    _check_keys(f"{at}.data_source.", source, DATA_SOURCE_KEYS)
    for key, value in source.items():
        if key in entry:
            raise ConfigError(f"{at}.data_source.{key}: given twice (also beside data_source): keep one")
        entry[key] = value
    return entry


def _expect_every(at: str, raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str):
        raise ConfigError(f"{at}.expect_every: {raw!r} needs a unit: write a duration like 30m, 2h or 1d")
    try:
        return parse_duration(raw)
    except ValueError as error:
        raise ConfigError(f"{at}.expect_every: {error}") from None


def _target_node(at: str, raw: Any) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise ConfigError(f"{at}.target_node: expected a node path like 'a/b', got {raw!r}")
    path = raw.strip("/")
    for segment in path.split("/") if path else ():
        if segment in (".", "..") or not NODE_SEGMENT.fullmatch(segment):
            raise ConfigError(f"{at}.target_node: {raw!r} is not a node path of names like 'a/b'")
    return path


def _extractor(at: str, entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    module, function = entry.get("fn_module"), entry.get("extract_fn")
    if module is None and function is None:
        return None, None
    if module is None or function is None:
        missing = "fn_module" if module is None else "extract_fn"
        raise ConfigError(f"{at}.{missing}: missing: an extractor needs both fn_module and extract_fn")
    if not isinstance(module, str) or not DOTTED_MODULE.fullmatch(module):
        raise ConfigError(f"{at}.fn_module: {module!r} is not a dotted module path like extract.bukov")
    if not isinstance(function, str) or not IDENTIFIER.fullmatch(function):
        raise ConfigError(f"{at}.extract_fn: {function!r} is not a Python function name")
    return module, function


def _content_types(at: str, raw: Any, has_extractor: bool) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_CONTENT_TYPES
    if not has_extractor:
        raise ConfigError(f"{at}.content_types: only for an endpoint with an extractor (fn_module + extract_fn)")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{at}.content_types: expected a list of media types like application/octet-stream")
    types = []
    for value in raw:
        lowered = value.strip().lower() if isinstance(value, str) else ""
        if not MEDIA_TYPE.fullmatch(lowered):
            raise ConfigError(f"{at}.content_types: {value!r} is not a media type like text/plain or */*")
        types.append(lowered)
    return tuple(types)


def _nests(route: str, other: str) -> bool:
    """True when one route equals the other or lies below it (it would swallow its node paths)."""
    return route == other or route.startswith(other + "/") or other.startswith(route + "/")
