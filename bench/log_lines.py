"""Cost of one log line (a benchmark, not a test: it prints figures, asserts nothing).

    .venv/bin/python bench/log_lines.py [--lines 20000]

The gateway writes one access line per request (gateway/gunicorn_logs.py) and one event line
per upload (shared/logs.py). Each is timed here against its baseline in the same run: gunicorn's
default access line (Apache combined format) and version 1's gateway line (`logger.info("%s ...")`
with asctime), all written to /dev/null through a StreamHandler as in production (stderr).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
import types
from datetime import timedelta
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gunicorn import glogging  # noqa: E402
from gunicorn.config import Config  # noqa: E402

from gateway.gunicorn_logs import USER_ENVIRON_KEY, GatewayLogger  # noqa: E402
from shared.logs import configure_logging, log_event  # noqa: E402


def per_line(write: Callable[[], None], lines: int) -> float:
    """Microseconds per call, best of three rounds (the machine may be shared)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(lines):
            write()
        best = min(best, (time.perf_counter() - start) / lines * 1e6)
    return best


def quiet(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open("/dev/null", "w"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    lines = parser.parse_args().lines
    sys.argv[1:] = []  # gunicorn's Config reads no command line here
    cfg = Config()
    cfg.set("accesslog", "-")
    request = types.SimpleNamespace(path="/api/v1/tree", method="POST", uri="/api/v1/tree", query="",
                                    version=(1, 1), headers=[("USER-AGENT", "logger/1.0")])
    response = types.SimpleNamespace(status_code=202, status="202 Accepted", sent=89, headers=[], response_length=89)
    environ = {"REQUEST_METHOD": "POST", "REMOTE_ADDR": "10.0.0.7", "RAW_URI": "/api/v1/tree",
               "SERVER_PROTOCOL": "HTTP/1.1", "QUERY_STRING": "", USER_ENVIRON_KEY: "logger-7"}
    took = timedelta(milliseconds=12.3)
    fields = dict(upload_id="20261124T024411_566800396Z", endpoint="tree", node_path="/", user="logger-7",
                  status=202, bytes=1986, format="csv")

    print(f"{'line':44} {'us/line':>8}")
    for log_format in ("logfmt", "json"):
        configure_logging("INFO", log_format)
        quiet(logging.getLogger())
        baseline = glogging.Logger(cfg)
        quiet(baseline.access_log)
        ours = GatewayLogger(cfg)
        quiet(ours.access_log)
        event_log = logging.getLogger("bench.gateway")
        plain_log = logging.getLogger("bench.plain")  # version 1's gateway line
        plain = logging.StreamHandler(open("/dev/null", "w"))
        plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        plain_log.handlers[:] = [plain]
        plain_log.propagate = False
        rows = [
            ("gunicorn default access line (baseline)", lambda: baseline.access(response, request, environ, took)),
            (f"access line, LOG_FORMAT={log_format}", lambda: ours.access(response, request, environ, took)),
            ("version 1's '%s ...' line (baseline)", lambda: plain_log.info(
                "accepted id=%s endpoint=%s node_path=%s user=%s bytes=%d format=%s", fields["upload_id"], "tree",
                "/", "logger-7", 1986, "csv")),
            (f"log_event accepted line, LOG_FORMAT={log_format}", lambda: log_event(event_log, "accepted", **fields)),
        ]
        for name, write in rows:
            print(f"{name:44} {per_line(write, lines):8.1f}")


if __name__ == "__main__":
    main()
