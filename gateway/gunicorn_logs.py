"""gunicorn's own log lines (its error log and one access line per request) in LOG_FORMAT.

gunicorn_conf.py sets ``logger_class`` to `GatewayLogger` after `shared.logs.configure_logging`,
whose formatter this takes, so the master's and the workers' lines look like the app's. The
access line goes to stderr with every other line (gunicorn's default "-" would be stdout):

    event=request method=POST path=/api/v1/tree status=202 bytes=97 duration_ms=12.4 remote_addr=10.0.0.7 user=logger-7

The path is sent without its query string, where a client might put a token; the user is the
one the app authenticated (never the name a failed login claimed).
"""
from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn import glogging

from shared.logs import Event, event_formatter

USER_ENVIRON_KEY = "zarr_ingress.user"  # set by the app (gateway/app.py) once it knows the user
PATH_MAX = 200  # characters of a request path in a log line


class GatewayLogger(glogging.Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # Access lines are INFO: LOG_LEVEL=WARNING (gunicorn's loglevel) quiets them like the app's.
        self.access_log.setLevel(max(logging.INFO, self.loglevel))
        formatter = event_formatter()
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(formatter)
        for handler in self.access_log.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog or not self.access_log.isEnabledFor(logging.INFO):
            return
        fields = {
            "method": environ.get("REQUEST_METHOD"),
            "path": (getattr(req, "path", None) or "")[:PATH_MAX],  # without the query
            "status": _status(resp),
            "bytes": resp.sent,
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user": environ.get(USER_ENVIRON_KEY),
        }
        self.access_log.info(Event("request", fields))


def _status(resp: Any) -> int | None:
    # gunicorn's own error answers (a malformed request) set only the status line, not its code.
    code = getattr(resp, "status_code", None)
    if code is None and resp.status:
        head = str(resp.status).split(maxsplit=1)[0]
        code = int(head) if head.isdigit() else None
    return code
