"""Moved to shared/logs.py (one log format for every process); kept for imports in flight."""
from shared.logs import configure_logging, format_fields, format_value, log_event

__all__ = ["configure_logging", "format_fields", "format_value", "log_event"]
