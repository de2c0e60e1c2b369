"""shared/logs.py: one event is one line of logfmt or JSON, whatever the values hold.

The property tests read the lines back with the strict parser of this folder (not with project
code) and compare with the values given. PROPERTY_EXAMPLES raises the number of examples.
"""
from __future__ import annotations

import json
import logging
import os
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logfmt_parser import LogfmtError, parse_logfmt
from shared.config import ConfigError, load_settings
from shared.logs import EventFormatter, format_fields, log_event

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "200"))
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda k: k not in ("ts", "level", "logger", "event", "exc_info"))  # (those get a "_", tested below)
# Values as devices and people send them: quotes, backslashes, '=', line breaks of every kind,
# ANSI escapes, NUL, unicode (combining marks, emoji, U+2028), and plain ids.
NASTY = st.text(st.sampled_from(['"', "\\", "=", " ", "\n", "\r", "\t", "\x00", "\x1b", "\x85", "\u2028",
                                 "\u2029", "\x7f", "é", "\u0301", "😀", "a", "Z", "0", "-", "_", ".", ":"]))
VALUES = st.one_of(st.text(), NASTY)


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def emitted(log_format: str, emit) -> list[str]:
    logger = logging.getLogger(f"test.logs.{log_format}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    capture = Capture(EventFormatter(log_format))
    logger.addHandler(capture)
    try:
        emit(logger)
    finally:
        logger.removeHandler(capture)
    return capture.lines


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
@example({"reason": 'column "temp=" has\nno unit \\ é', "path": "/api/v1/tree\u2028x"})
@example({"empty": ""})
def test_format_fields_round_trips_any_text_through_a_strict_logfmt_parser(fields):
    line = format_fields(event="probe", **fields)
    assert line.splitlines() == [line]  # no reader splits it: \n, \r, U+2028, NEL... all escaped
    assert parse_logfmt(line) == {"event": "probe", **fields}


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6), st.sampled_from(["logfmt", "json"]))
def test_an_event_record_is_one_line_with_ts_level_logger_event_then_its_fields(fields, log_format):
    (line,) = emitted(log_format, lambda logger: log_event(logger, "probe", logging.WARNING, **fields))
    assert line.splitlines() == [line]
    parsed = parse_logfmt(line) if log_format == "logfmt" else json.loads(line)
    assert list(parsed)[:4] == ["ts", "level", "logger", "event"]
    assert parsed["level"] == "warning" and parsed["logger"] == f"test.logs.{log_format}"
    assert parsed["event"] == "probe"
    assert {k: v for k, v in parsed.items() if k not in ("ts", "level", "logger", "event")} == fields


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_a_traceback_and_a_library_message_stay_on_their_one_line(log_format):
    def emit(logger: logging.Logger) -> None:
        logger.warning("library says %s\nand more", "hi")
        try:
            raise RuntimeError("broken\nstore")
        except RuntimeError:
            log_event(logger, "lane_error", logging.ERROR, exc_info=True, endpoint="tree")

    message, failure = emitted(log_format, emit)
    read = parse_logfmt if log_format == "logfmt" else json.loads
    assert read(message)["event"] == "message" and read(message)["msg"] == "library says hi\nand more"
    fields = read(failure)
    assert fields["event"] == "lane_error" and fields["endpoint"] == "tree"
    assert fields["traceback"].startswith("Traceback") and "RuntimeError: broken\nstore" in fields["traceback"]
    assert message.splitlines() == [message] and failure.splitlines() == [failure]


def test_json_lines_keep_numbers_and_spell_what_json_cannot_hold():
    (line,) = emitted("json", lambda logger: log_event(
        logger, "merged", rows=30, seconds=0.19, ratio=float("nan"), path=sys.prefix, user=None, ok=True))
    fields = json.loads(line)  # strict: NaN would not parse in every reader, so it is a string
    assert fields["rows"] == 30 and fields["seconds"] == 0.19 and fields["ratio"] == "nan"
    assert fields["path"] == sys.prefix and fields["ok"] is True
    assert "user" not in fields  # None: not applicable, left out


def test_a_field_named_like_a_fixed_key_does_not_replace_it():
    (line,) = emitted("logfmt", lambda logger: log_event(logger, "fetched", level="high", logger="yr", ts="x"))
    fields = parse_logfmt(line)
    assert (fields["level"], fields["logger"], fields["ts"][:2]) == ("info", "test.logs.logfmt", "20")
    assert (fields["level_"], fields["logger_"], fields["ts_"]) == ("high", "yr", "x")


def test_the_strict_parser_refuses_what_a_shipper_would_misread():
    for bad in ('a=b  c=d', 'a="unterminated', 'a=b"c', 'a=\x1b[31m', 'a="\\q"', "a=b a=c", "=b", "a="):
        with pytest.raises(LogfmtError):
            parse_logfmt(bad)


@pytest.mark.parametrize("value", ["xml", "LOGFMT2", "text"])
def test_an_invalid_log_format_is_a_config_error_naming_the_key_and_the_choices(tmp_path, value):
    with pytest.raises(ConfigError) as error:
        load_settings({"QUEUE_DIR": str(tmp_path), "LOG_FORMAT": value}, dotenv=None)
    assert str(error.value).startswith("LOG_FORMAT:") and "LOGFMT" in str(error.value) and "JSON" in str(error.value)


def test_log_format_is_read_in_either_case_and_defaults_to_logfmt(tmp_path):
    assert load_settings({"QUEUE_DIR": str(tmp_path)}, dotenv=None).log_format == "logfmt"
    assert load_settings({"QUEUE_DIR": str(tmp_path), "LOG_FORMAT": "Json"}, dotenv=None).log_format == "json"


def access_lines(loglevel: str, response: object, path: str = "/api/v1/tree") -> list[str]:
    """What gunicorn's logger of the gateway writes for one request (gunicorn's own objects
    are stood in for by their attributes the logger reads)."""
    import io
    import types
    from datetime import timedelta

    from gunicorn.config import Config

    from gateway.gunicorn_logs import USER_ENVIRON_KEY, GatewayLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("loglevel", loglevel)
    logging.getLogger("gunicorn.access").handlers.clear()  # process-wide: an earlier test's are there
    logger = GatewayLogger(cfg)
    stream = io.StringIO()
    (handler,) = logger.access_log.handlers
    handler.setStream(stream)
    request = types.SimpleNamespace(path=path)
    environ = {"REQUEST_METHOD": "POST", "REMOTE_ADDR": "10.0.0.7", "QUERY_STRING": "token=t0ken",
               USER_ENVIRON_KEY: "logger-7"}
    logger.access(response, request, environ, timedelta(milliseconds=12.34))
    return stream.getvalue().splitlines()


def test_the_access_line_names_method_path_status_bytes_duration_address_and_user():
    import types

    (line,) = access_lines("info", types.SimpleNamespace(status_code=202, status="202 Accepted", sent=89))
    fields = parse_logfmt(line)
    assert (fields["logger"], fields["event"], fields["method"], fields["path"]) == (
        "gunicorn.access", "request", "POST", "/api/v1/tree")
    assert (fields["status"], fields["bytes"], fields["duration_ms"]) == ("202", "89", "12.3")
    assert (fields["remote_addr"], fields["user"]) == ("10.0.0.7", "logger-7") and "t0ken" not in line


def test_gunicorns_own_error_answer_gets_its_status_from_the_status_line():
    import types

    (line,) = access_lines("info", types.SimpleNamespace(status_code=None, status="400 Bad Request", sent=0))
    assert parse_logfmt(line)["status"] == "400"


def test_log_level_warning_quiets_the_access_lines():
    import types

    assert access_lines("warning", types.SimpleNamespace(status_code=202, status="202 Accepted", sent=89)) == []
