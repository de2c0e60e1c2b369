"""`active_scrappers:` of the endpoints file: pull sources the scheduler fetches on a cron schedule.

One place knows every key of a scraper entry (the original server's format, issue 14):

    - name: yr-forecast                 # queue folder; the items' user is "scraper-<name>"
      schema_path: schemas/surface.yaml
      target_node: yr.no                # optional; extract_fn + fn_module optional as for endpoints
      tz: Europe/Prague                 # optional: the cron's zone (default UTC)
      runs:                             # one schedule per item: 5-field cron (0 = Sunday) + constants
        - {cron: "15 */6 * * *", set: {run: "06"}}
      request: {method: GET, url: "https://h/f?lat={dflat}", headers: [...], query_params: [...]}
      render: [{name: date, source: datetime_utc, format: "%Y%m%d"}]     # once per run
      iterate:                          # cartesian product, in order
        - {name: quantity, source: schema, schema_regex: "VARS.*.df_col"}
        - {name: site, source: dataframe, dataframe_path: sites.csv, outputs: {dflat: lat}}

Everything that can be wrong is found here, at start, with the entry and key named
(`active_scrappers[1] (yr-forecast).request.url`): an unknown key (with "did you mean"), a bad
cron or zone, a template variable defined twice or used but never defined. The schema and
dataframe sources are read here too, so a missing file or an empty match stops the start, not a
run at 3 a.m.
"""

from __future__ import annotations

import csv
import difflib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from shared.config.errors import ConfigError, check_keys as _check_keys

SCRAPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOTTED_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

SCRAPER_KEYS = ("name", "schema_path", "target_node", "extract_fn", "fn_module", "tz", "cron",
                "runs", "request", "render", "iterate")
RUN_KEYS = ("cron", "set", "tz")
REQUEST_KEYS = ("method", "url", "headers", "query_params", "timeout")
HEADER_KEYS = ("header_name", "header_value")
QUERY_PARAM_KEYS = ("name", "value")
RENDER_KEYS = ("name", "source", "format", "value")
ITERATE_KEYS = ("name", "source", "schema_regex", "dataframe_path", "dataframe_has_header", "outputs",
                "values")
# Render sources: the run's scheduled time, in UTC or in the scraper's zone, and a constant.
DATETIME_SOURCES = ("datetime_utc", "datetime_local")
RENDER_SOURCES = (*DATETIME_SOURCES, "const")
ITERATE_SOURCES = ("schema", "dataframe", "list")
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Run:
    """One schedule of a scraper: a classic 5-field cron in `tz`, and constants for its templates."""

    cron: str
    tz: str = "UTC"
    constants: Mapping[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class Request:
    url: str  # a template: {variable} fields, {{ and }} for literal braces
    headers: tuple[tuple[str, str], ...] = ()  # (name, value template)
    query_params: tuple[tuple[str, str], ...] = ()  # (name, value template)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Render:
    """A variable evaluated once per run: the run's time formatted, or a constant."""

    name: str
    source: str
    format: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Dataframe:
    """Where a `source: dataframe` axis reads its rows: kept so the scheduler re-reads a changed file."""

    at: str  # the entry's key path, for errors: "...: active_scrappers[0] (yr).iterate[1]"
    path: Path
    has_header: bool
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class Iterate:
    """One axis of a run's contexts: each step binds one or more variables."""

    name: str
    steps: tuple[Mapping[str, str], ...]
    dataframe: Dataframe | None = None  # set for source: dataframe


@dataclass(frozen=True)
class Scraper:
    name: str
    schema_path: Path
    runs: tuple[Run, ...]
    request: Request
    render: tuple[Render, ...] = ()
    iterate: tuple[Iterate, ...] = ()
    target_node: str = ""
    fn_module: str | None = None
    extract_fn: str | None = None
    config_dir: Path | None = None

    @property
    def username(self) -> str:
        """The user its queue items carry, so operators tell pulled items from pushed ones."""
        return f"scraper-{self.name}"

    @property
    def extractor(self) -> str | None:
        return f"{self.fn_module}:{self.extract_fn}" if self.fn_module else None


def load_scrapers(where: str, raw: Any, schema_base: Path, config_dir: Path) -> tuple[Scraper, ...]:
    """The validated scrapers of `active_scrappers:` (None: none); ConfigError names the key."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: active_scrappers: expected a list of scrapper entries")
    scrapers: list[Scraper] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigError(f"{where}: active_scrappers[{index}]: expected a mapping with a name")
        at = f"{where}: active_scrappers[{index}] ({entry['name']})"
        scraper = _scraper(at, entry, schema_base, config_dir)
        if any(other.name == scraper.name for other in scrapers):
            raise ConfigError(f"{at}.name: duplicate scrapper name {scraper.name!r}")
        scrapers.append(scraper)
    return tuple(scrapers)


def template_fields(at: str, template: str) -> tuple[str, ...]:
    """The variable names a template uses; ConfigError on a field that is not a plain name."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ConfigError(f"{at}: {template!r} is not a template ({error}; write {{{{ for a literal brace)") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not VARIABLE.fullmatch(name) or spec or conversion:
            raise ConfigError(f"{at}: {{{name}}} in {template!r}: a field is a plain variable name like {{site}}")
        names.append(name)
    return tuple(names)


def _mapping(at: str, raw: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: expected a mapping with keys {', '.join(keys)}")
    _check_keys(f"{at}.", raw, keys)
    return raw


def _text(at: str, raw: Any, *, required: bool = True) -> str | None:
    if raw is None and not required:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)) or raw == "":
        raise ConfigError(f"{at}: expected a non-empty string, got {raw!r}")
    return str(raw)


def _list(at: str, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{at}: expected a list")
    return raw


def _scraper(at: str, entry: Mapping[str, Any], schema_base: Path, config_dir: Path) -> Scraper:
    _check_keys(f"{at}.", entry, SCRAPER_KEYS)
    name = entry["name"]
    if not SCRAPER_NAME.fullmatch(name):
        raise ConfigError(f"{at}.name: {name!r} must be letters, digits, '_' or '-' (it names a queue folder)")
    schema_text = _text(f"{at}.schema_path", entry.get("schema_path"))
    schema_path = (schema_base / schema_text).absolute()
    if not schema_path.is_file():
        raise ConfigError(f"{at}.schema_path: schema file {schema_path} not found")
    tz = _zone(f"{at}.tz", entry.get("tz", "UTC"))
    runs = _runs(at, entry, tz)
    request = _request(f"{at}.request", entry.get("request"))
    render = tuple(_render(f"{at}.render[{i}]", r) for i, r in enumerate(_list(f"{at}.render", entry.get("render"))))
    iterate = tuple(_iterate(f"{at}.iterate[{i}]", it, schema_path, config_dir)
                    for i, it in enumerate(_list(f"{at}.iterate", entry.get("iterate"))))
    _check_variables(at, runs, request, render, iterate)
    fn_module, extract_fn = entry.get("fn_module"), entry.get("extract_fn")
    if (fn_module is None) != (extract_fn is None):
        missing = "fn_module" if fn_module is None else "extract_fn"
        raise ConfigError(f"{at}.{missing}: missing: an extractor needs both fn_module and extract_fn")
    if fn_module is not None and not (isinstance(fn_module, str) and DOTTED_MODULE.fullmatch(fn_module)):
        raise ConfigError(f"{at}.fn_module: {fn_module!r} is not a dotted module path like extract.yr")
    if extract_fn is not None and not (isinstance(extract_fn, str) and VARIABLE.fullmatch(extract_fn)):
        raise ConfigError(f"{at}.extract_fn: {extract_fn!r} is not a Python function name")
    target_node = entry.get("target_node") or ""
    if not isinstance(target_node, str) or any(s in (".", "..") for s in target_node.split("/")):
        raise ConfigError(f"{at}.target_node: expected a node path like 'a/b', got {target_node!r}")
    return Scraper(name=name, schema_path=schema_path, runs=runs, request=request, render=render, iterate=iterate,
                   target_node=target_node.strip("/"), fn_module=fn_module, extract_fn=extract_fn,
                   config_dir=config_dir.absolute())


def _zone(at: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{at}: expected an IANA time zone like Europe/Prague, got {raw!r}")
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{at}: {raw!r} is not an IANA time zone like Europe/Prague or UTC") from None
    return raw


def _cron(at: str, raw: Any) -> str:
    # Exactly five fields: croniter also takes a sixth (seconds) or seventh field, which the
    # original format never had; classic semantics (0 and 7 = Sunday, day-of-month OR weekday).
    from croniter import croniter  # here, so that reading .env or settings needs no scheduler library

    if not isinstance(raw, str) or len(raw.split()) != 5 or not croniter.is_valid(raw):
        raise ConfigError(f"{at}: {raw!r} is not a 5-field cron like '15 */6 * * *' (minute hour day month weekday)")
    return " ".join(raw.split())


def _runs(at: str, entry: Mapping[str, Any], tz: str) -> tuple[Run, ...]:
    raw_runs = entry.get("runs")
    if entry.get("cron") is not None:
        if raw_runs is not None:
            raise ConfigError(f"{at}.cron: given beside runs: keep one (runs: [{{cron: ...}}] for several)")
        raw_runs = [{"cron": entry["cron"]}]
    if not isinstance(raw_runs, list) or not raw_runs:
        raise ConfigError(f"{at}.runs: missing: a list of schedules like [{{cron: '15 */6 * * *'}}]")
    runs = []
    for index, raw in enumerate(raw_runs):
        run_at = f"{at}.runs[{index}]"
        item = _mapping(run_at, raw, RUN_KEYS)
        cron = _cron(f"{run_at}.cron", item.get("cron"))
        zone = _zone(f"{run_at}.tz", item["tz"]) if "tz" in item else tz
        constants = item.get("set") or {}
        if not isinstance(constants, dict):
            raise ConfigError(f"{run_at}.set: expected a mapping of variable: value")
        checked: dict[str, str] = {}
        for key, value in constants.items():
            if not isinstance(key, str) or not VARIABLE.fullmatch(key):
                raise ConfigError(f"{run_at}.set.{key}: not a variable name (letters, digits, '_')")
            checked[key] = _text(f"{run_at}.set.{key}", value)
        runs.append(Run(cron=cron, tz=zone, constants=checked))
    return tuple(runs)


def _request(at: str, raw: Any) -> Request:
    request = _mapping(at, raw, REQUEST_KEYS)
    method = str(request.get("method", "GET"))
    if method.upper() != "GET":
        raise ConfigError(f"{at}.method: {method!r}: only GET (a scraper reads, it never changes a source)")
    url = _text(f"{at}.url", request.get("url"))
    if not re.match(r"https?://", url, re.IGNORECASE):
        raise ConfigError(f"{at}.url: {url!r} is not an http:// or https:// URL")
    template_fields(f"{at}.url", url)
    headers = []
    for index, raw_header in enumerate(_list(f"{at}.headers", request.get("headers"))):
        header_at = f"{at}.headers[{index}]"
        header = _mapping(header_at, raw_header, HEADER_KEYS)
        name = _text(f"{header_at}.header_name", header.get("header_name"))
        value = _text(f"{header_at}.header_value", header.get("header_value"))
        template_fields(f"{header_at}.header_value", value)
        headers.append((name, value))
    params = []
    for index, raw_param in enumerate(_list(f"{at}.query_params", request.get("query_params"))):
        param_at = f"{at}.query_params[{index}]"
        param = _mapping(param_at, raw_param, QUERY_PARAM_KEYS)
        value = _text(f"{param_at}.value", param.get("value"))
        template_fields(f"{param_at}.value", value)
        params.append((_text(f"{param_at}.name", param.get("name")), value))
    timeout = request.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise ConfigError(f"{at}.timeout: {timeout!r} is not a number of seconds in (0, 600]")
    return Request(url=url, headers=tuple(headers), query_params=tuple(params), timeout_seconds=float(timeout))


def _render(at: str, raw: Any) -> Render:
    item = _mapping(at, raw, RENDER_KEYS)
    name = _variable(f"{at}.name", item.get("name"))
    source = item.get("source")
    if source not in RENDER_SOURCES:
        raise ConfigError(f"{at}.source: {source!r} is not one of {', '.join(RENDER_SOURCES)}")
    if source == "const":
        if "value" not in item:
            raise ConfigError(f"{at}.value: missing: source const needs a value")
        if "format" in item:
            raise ConfigError(f"{at}.format: only for the date-time sources ({', '.join(DATETIME_SOURCES)})")
        return Render(name, source, value=_text(f"{at}.value", item["value"]))
    if "format" not in item:
        raise ConfigError(f"{at}.format: missing: source {source} needs a strftime format like '%Y%m%d'")
    if "value" in item:
        raise ConfigError(f"{at}.value: only for source const")
    return Render(name, source, format=_text(f"{at}.format", item["format"]))


def _variable(at: str, raw: Any) -> str:
    if not isinstance(raw, str) or not VARIABLE.fullmatch(raw):
        raise ConfigError(f"{at}: {raw!r} is not a variable name (letters, digits, '_', not starting with a digit)")
    return raw


def _iterate(at: str, raw: Any, schema_path: Path, config_dir: Path) -> Iterate:
    item = _mapping(at, raw, ITERATE_KEYS)
    name = _variable(f"{at}.name", item.get("name"))
    source = item.get("source")
    if source not in ITERATE_SOURCES:
        raise ConfigError(f"{at}.source: {source!r} is not one of {', '.join(ITERATE_SOURCES)}")
    own = {"schema": ("schema_regex",), "dataframe": ("dataframe_path", "dataframe_has_header", "outputs"),
           "list": ("values",)}
    for key in item:
        if key not in ("name", "source", *own[source]):
            raise ConfigError(f"{at}.{key}: not for source {source} (its keys: {', '.join(own[source])})")
    if source == "schema":
        values = _schema_values(at, item.get("schema_regex"), schema_path)
        return Iterate(name, tuple({name: value} for value in values))
    if source == "list":
        values = _list(f"{at}.values", item.get("values"))
        if not values:
            raise ConfigError(f"{at}.values: missing: a non-empty list of values")
        return Iterate(name, tuple({name: _text(f"{at}.values[{i}]", v)} for i, v in enumerate(values)))
    frame = _dataframe(at, item, config_dir)
    return Iterate(name, dataframe_steps(frame, name), frame)


def _schema_values(at: str, raw: Any, schema_path: Path) -> list[str]:
    """Scalars of the schema YAML at a dot path; a segment is a regex over keys, `*` all children."""
    path = _text(f"{at}.schema_regex", raw)
    try:
        segments = [re.compile(".*" if s == "*" else s) for s in path.split(".")]
    except re.error as error:
        raise ConfigError(f"{at}.schema_regex: {path!r}: {error}") from None
    nodes: list[Any] = [yaml.safe_load(schema_path.read_text(encoding="utf-8"))]
    for segment in segments:
        children: list[Any] = []
        for node in nodes:
            if isinstance(node, dict):
                children += [v for k, v in node.items() if segment.fullmatch(str(k))]
            elif isinstance(node, list):
                children += [v for i, v in enumerate(node) if segment.fullmatch(str(i))]
        nodes = children
    values: list[str] = []
    for node in nodes:
        if isinstance(node, (str, int, float)) and not isinstance(node, bool) and str(node) not in values:
            values.append(str(node))
    if not values:
        raise ConfigError(f"{at}.schema_regex: {path!r} matches no plain value in {schema_path}")
    return values


def _dataframe(at: str, item: Mapping[str, Any], config_dir: Path) -> Dataframe:
    relative = _text(f"{at}.dataframe_path", item.get("dataframe_path"))
    path = (config_dir / relative).resolve()
    if config_dir.resolve() not in path.parents:
        raise ConfigError(f"{at}.dataframe_path: {relative!r} lies outside the config folder {config_dir}")
    has_header = item.get("dataframe_has_header", True)
    if not isinstance(has_header, bool):
        raise ConfigError(f"{at}.dataframe_has_header: expected true or false, got {has_header!r}")
    outputs = item.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise ConfigError(f"{at}.outputs: expected a mapping of variable: column")
    return Dataframe(at, path, has_header, dict(outputs))


def dataframe_steps(frame: Dataframe, name: str) -> tuple[Mapping[str, str], ...]:
    """One step per row: `name` is the row's first column, each output variable its column.

    Read at start and again by the scheduler when the file changed; ConfigError names the key,
    the file and the line.
    """
    at, path, has_header = frame.at, frame.path, frame.has_header
    try:
        with path.open(encoding="utf-8", newline="") as file:
            rows = [row for row in csv.reader(file) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise ConfigError(f"{at}.dataframe_path: cannot read {path}: {error.strerror}") from None
    header = [cell.strip() for cell in rows.pop(0)] if has_header and rows else []
    if not rows:
        raise ConfigError(f"{at}.dataframe_path: {path} has no data rows")
    outputs = frame.outputs
    columns: dict[str, int] = {}
    for variable, column in outputs.items():
        _variable(f"{at}.outputs.{variable}", variable)
        if has_header:
            if column not in header:
                close = difflib.get_close_matches(str(column), header, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{at}.outputs.{variable}: column {column!r} not in {path.name}'s header "
                                  f"{', '.join(header)}{hint}")
            columns[variable] = header.index(column)
        else:
            if isinstance(column, bool) or not isinstance(column, int) or column < 0:
                raise ConfigError(f"{at}.outputs.{variable}: without a header a column is a number from 0, "
                                  f"got {column!r}")
            columns[variable] = column
    steps = []
    for number, row in enumerate(rows, start=2 if has_header else 1):
        if len(row) != len(rows[0]) or any(index >= len(row) for index in columns.values()):
            raise ConfigError(f"{at}.dataframe_path: {path.name} line {number}: {len(row)} columns, "
                              f"expected {len(rows[0])}")
        step = {name: row[0].strip()}
        step.update({variable: row[index].strip() for variable, index in columns.items()})
        steps.append(step)
    return tuple(steps)


def _check_variables(at: str, runs: tuple[Run, ...], request: Request, render: tuple[Render, ...],
                     iterate: tuple[Iterate, ...]) -> None:
    """Each variable defined once; each template field defined in every run."""
    defined: dict[str, str] = {}
    for index, item in enumerate(render):
        _define(at, defined, item.name, f"render[{index}].name")
    for index, item in enumerate(iterate):
        for variable in item.steps[0]:
            where = f"iterate[{index}].name" if variable == item.name else f"iterate[{index}].outputs.{variable}"
            _define(at, defined, variable, where)
    for index, run in enumerate(runs):
        for variable in run.constants:
            if variable in defined:
                raise ConfigError(f"{at}.runs[{index}].set.{variable}: variable defined twice "
                                  f"(also {defined[variable]})")
    templates = [("request.url", request.url)]
    templates += [(f"request.headers[{i}].header_value", v) for i, (_, v) in enumerate(request.headers)]
    templates += [(f"request.query_params[{i}].value", v) for i, (_, v) in enumerate(request.query_params)]
    for where, template in templates:
        for variable in template_fields(f"{at}.{where}", template):
            for index, run in enumerate(runs):
                if variable not in defined and variable not in run.constants:
                    known = sorted({*defined, *run.constants})
                    close = difflib.get_close_matches(variable, known, n=1)
                    hint = f"did you mean {{{close[0]}}}? " if close else ""
                    raise ConfigError(f"{at}.{where}: unknown variable {{{variable}}} in runs[{index}] "
                                      f"({hint}defined: {', '.join(known) or 'none'})")


def _define(at: str, defined: dict[str, str], variable: str, where: str) -> None:
    if variable in defined:
        raise ConfigError(f"{at}.{where}: variable {variable!r} defined twice (also {defined[variable]})")
    defined[variable] = where
