"""One log line per lifecycle event, the same for gateway, worker, scheduler and gunicorn.

    LOG_FORMAT=logfmt (default)  ts=2026-12-01T12:00:00.123Z level=info logger=worker event=merged id=...
    LOG_FORMAT=json              {"ts": "2026-12-01T12:00:00.123Z", "level": "info", "logger": "worker", ...}

Every line has ts (UTC, milliseconds), level, logger and event, then the event's fields in the
order given, but for those that are None (not applicable). Events come from ``log_event(logger, event, **fields)``; a record logged another way
(a library's, a warning) becomes event=message with its text in ``msg``. A traceback rides in
the ``traceback`` field of its line, so one event is always exactly one line: a value's newlines,
quotes and other control or separator characters are escaped, never written raw.
"""
from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
from typing import Callable

LOG_FORMATS = ("logfmt", "json")
FIXED_KEYS = ("ts", "level", "logger", "event")

_PLAIN = re.compile(r"[A-Za-z0-9\-_./:+@,]+")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def format_value(value: object) -> str:
    """A logfmt value: bare when it is plain, else quoted with backslash escapes."""
    if type(value) is int:  # statuses, sizes: the most common values, always bare
        return str(value)
    text = "" if value is None else str(value)
    if _PLAIN.fullmatch(text):
        return text
    if text.isprintable():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # Control and line/paragraph separators (U+2028, NEL...) would split the line for a reader.
    return '"' + "".join(_ESCAPES.get(c) or (c if c.isprintable() else _unicode_escape(c)) for c in text) + '"'


def _unicode_escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def format_fields(**fields: object) -> str:
    return " ".join(f"{key}={format_value(value)}" for key, value in fields.items())


class Event:
    """A record's message for an event: rendered only if a handler writes the record."""

    __slots__ = ("event", "fields")

    def __init__(self, event: str, fields: dict[str, object]) -> None:
        self.event = event
        self.fields = fields

    def __str__(self) -> str:
        return format_fields(event=self.event, **{k: v for k, v in self.fields.items() if v is not None})


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, /, *, exc_info: bool = False,
              **fields: object) -> None:
    """One line for `event`; exc_info=True adds the exception being handled as ``traceback``."""
    if logger.isEnabledFor(level):
        logger.log(level, Event(event, fields), exc_info=exc_info)


_second: list = [None, ""]  # the last whole second formatted, and its text: lines come many a second


def _timestamp(record: logging.LogRecord) -> str:
    whole = int(record.created)
    second, text = _second
    if whole != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second[:] = [whole, text]
    return f"{text}.{int(record.msecs):03d}Z"


def record_fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, object]:
    """ts, level, logger, event and the event's fields (a field named like those gets a ``_``)."""
    fields: dict[str, object] = {"ts": _timestamp(record), "level": record.levelname.lower(), "logger": record.name}
    message = record.msg
    if isinstance(message, Event):
        fields["event"] = message.event
        for key, value in message.fields.items():
            if value is not None:  # not applicable here (no user without authentication...)
                fields[f"{key}_" if key in FIXED_KEYS else key] = value
    else:
        fields["event"] = "message"
        fields["msg"] = record.getMessage()
    if record.exc_info:
        fields["traceback"] = formatter.formatException(record.exc_info)
    elif record.exc_text:
        fields["traceback"] = record.exc_text
    if record.stack_info:
        fields["stack"] = formatter.formatStack(record.stack_info)
    return fields


def _json_value(value: object) -> object:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return str(value)  # a path, a nan, an exception: JSON has no other way to say it


def render_logfmt(fields: dict[str, object]) -> str:
    return " ".join(f"{key}={format_value(value)}" for key, value in fields.items())


def render_json(fields: dict[str, object]) -> str:
    # ensure_ascii: U+2028 and friends escaped too, so no reader splits the line.
    return json.dumps({key: _json_value(value) for key, value in fields.items()}, ensure_ascii=True)


RENDERERS: dict[str, Callable[[dict[str, object]], str]] = {"logfmt": render_logfmt, "json": render_json}


class EventFormatter(logging.Formatter):
    """A record as one logfmt or JSON line."""

    def __init__(self, log_format: str = "logfmt") -> None:
        super().__init__()
        if log_format not in RENDERERS:
            raise ValueError(f"LOG_FORMAT: {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        self.log_format = log_format
        self.render = RENDERERS[log_format]

    def format(self, record: logging.LogRecord) -> str:
        return self.render(record_fields(record, self))


class _DropAbandonedSessions(logging.Filter):
    """s3fs leaves the aiohttp session of a store dropped after an outage to the garbage
    collector, and asyncio reports each one at ERROR level; that is expected, not an event."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Unclosed client session", "Unclosed connector"))


_DROP_ABANDONED_SESSIONS = _DropAbandonedSessions()
_formatter = EventFormatter()


def event_formatter() -> EventFormatter:
    """The formatter of the last ``configure_logging`` (for gunicorn's own loggers)."""
    return _formatter


def configure_logging(level: str = "INFO", log_format: str = "logfmt") -> None:
    """Every record of this process to stderr as one line of `log_format`, from `level` up."""
    global _formatter
    _formatter = EventFormatter(log_format)
    # No line shows the caller's file and line, thread or process: skip computing them for every
    # record (the logging docs' "Optimization"; finding the caller walks the stack, ~1/4 of the
    # cost of the gateway's one line per upload).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Python's warnings (a library's FutureWarning) would go to stderr as several raw lines.
    logging.captureWarnings(True)
    # Library chatter (botocore retries, s3fs internals) is not a lifecycle event.
    for noisy in ("botocore", "aiobotocore", "s3fs", "urllib3", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("asyncio").addFilter(_DROP_ABANDONED_SESSIONS)  # once: addFilter skips a known one
