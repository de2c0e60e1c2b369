"""Lifecycle log lines: one ``key=value`` line per event, always with the upload id."""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

_PLAIN = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:+@,")


def format_value(value: object) -> str:
    text = "" if value is None else str(value)
    if text and set(text) <= _PLAIN:
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def format_fields(**fields: object) -> str:
    return " ".join(f"{key}={format_value(value)}" for key, value in fields.items())


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    logger.log(level, format_fields(event=event, **fields))


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"ts={stamp[:-4]}Z level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _DropAbandonedSessions(logging.Filter):
    """s3fs leaves the aiohttp session of a store dropped after an outage to the garbage
    collector, and asyncio reports each one at ERROR level; that is expected, not an event."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Unclosed client session", "Unclosed connector"))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter (botocore retries, watchdog internals) is not a lifecycle event.
    for noisy in ("botocore", "aiobotocore", "s3fs", "urllib3", "watchdog", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("asyncio").addFilter(_DropAbandonedSessions())
