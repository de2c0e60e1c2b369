"""The gateway's gunicorn worker: slow or stalled clients never hold what other uploads need.

gunicorn's thread worker gives each connection a thread from the start and reads from it without
a timeout, so a few clients that send slowly (or connect and send nothing) take every thread and
loggers wait for minutes. This worker is gunicorn's gevent worker (one greenlet per connection,
cheap) with deadlines:

* headers: a request's headers must arrive within KEEPALIVE seconds (gunicorn's keepalive, 5),
  also on a fresh connection; otherwise the connection is closed without an answer;
* body: the client may pause at most READ_TIMEOUT seconds (default 30) between two reads, as
  nginx's client_body_timeout; a stalled body is answered 408 and the connection closed;
* the whole body is read (into memory, spilling to a temporary file past 1 MiB) before the
  application runs, so the application never waits for the network while it works. A body
  declared over the limit is not read: the application answers 413 from the headers;
* the application then runs in one of GUNICORN_THREADS real threads per worker (default 4), not
  in the event loop: an upload's fsyncs block only its own thread while the loop goes on reading
  other requests, and other uploads' fsyncs overlap (gevent alone, everything in the loop:
  measured 4.5x fewer uploads/s at 32 clients). Only sockets are monkey-patched, so the
  application's locks and threads are the real ones.

The same READ_TIMEOUT bounds a client that does not read its answer (sends block).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import gevent
from gevent import monkey
from gevent import socket as gevent_socket
from gevent.threadpool import ThreadPool
from gunicorn.workers.ggevent import GeventWorker

from shared.config import ConfigError, load_settings
from shared.logs import log_event

log = logging.getLogger("zarr_ingress.gateway")

DEFAULT_READ_TIMEOUT = 30
# Multipart uploads carry their form framing on top of MAX_UPLOAD_BYTES (gateway/upload.py allows
# 64 KiB of it); a body one byte longer than limit + framing is all the app needs to answer 413.
FRAMING_ALLOWANCE = 64 * 1024
IN_MEMORY_BYTES = 1024 * 1024  # per connection; larger bodies go to a temporary file
READ_CHUNK = 64 * 1024
STOP_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)
BOOT_RETRY_SECONDS = 5  # a worker whose configuration does not load waits this long before it exits

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Runner = Callable[..., Any]  # runner(function, *args) -> function(*args), wherever it runs


def read_timeout() -> float:
    """READ_TIMEOUT from the environment (gunicorn_conf.py has refused a bad value already)."""
    value = os.environ.get("READ_TIMEOUT", "").strip()
    return float(value) if value else float(DEFAULT_READ_TIMEOUT)


class BodyStalled(Exception):
    """The client sent nothing for READ_TIMEOUT seconds in the middle of a body."""


def buffer_bodies(app: WSGIApp, body_limit: int, timeout: float, runner: Runner, *, production: bool = True) -> WSGIApp:
    """`app` behind a WSGI layer that reads each request body completely, then has `runner` call it."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            # Every wait for this client from here on (body reads, answer sends) is bounded;
            # DeadlineWorker.timeout_ctx lifts it again for the next request's headers.
            sock.settimeout(timeout)
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > body_limit:
            return app(environ, start_response)  # answered 413 from the headers, body unread
        try:
            environ["wsgi.input"] = _spool(environ["wsgi.input"], body_limit)
        except BodyStalled:
            _stop_reading(sock)
            return _timeout_answer(timeout, start_response, production)
        return runner(_answer, app, environ, start_response)

    return application


def _answer(app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The whole answer, so that nothing of the application runs later in the event loop."""
    result = app(environ, start_response)
    try:
        return list(result)
    finally:
        if hasattr(result, "close"):
            result.close()


def _spool(stream, body_limit: int):
    """The body in a rewound file: all of it, or its first body_limit + 1 bytes (then a 413)."""
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)
    total = 0
    try:
        while total <= body_limit:
            chunk = stream.read(min(READ_CHUNK, body_limit + 1 - total))
            if not chunk:
                break
            spool.write(chunk)
            total += len(chunk)
    except (TimeoutError, socket.timeout) as error:
        spool.close()
        raise BodyStalled() from error
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _stop_reading(sock) -> None:
    # gunicorn would otherwise try to read the rest of the body before closing (another timeout);
    # this way it reads the end of the stream and closes the connection after the 408.
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass  # the client is gone already


def _timeout_answer(timeout: float, start_response: Callable[..., Any], production: bool) -> list[bytes]:
    message = f"the request body stalled: nothing arrived for {timeout:g} s (READ_TIMEOUT); send it again"
    log_event(log, "rejected", status=408, reason=message)  # the app never saw it: its own line
    answer: dict[str, Any] = {"error": message}
    if not production:
        answer["trace"] = None  # as the app's error bodies: no exception explains a silent client
    body = json.dumps(answer).encode()
    # The rest of the body is never read: the connection closes after this answer, and the answer
    # must say so. gunicorn drops an application's Connection header (hop-by-hop) and decides it
    # from its Response's must_close, the object whose start_response this is.
    response = getattr(start_response, "__self__", None)
    if response is not None and hasattr(response, "must_close"):
        response.must_close = True
    start_response("408 Request Timeout", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
    ])
    return [body]


class DeadlineWorker(GeventWorker):
    """gunicorn's gevent worker with a header deadline, a read timeout and whole-body buffering."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clients: dict[gevent.Greenlet, socket.socket] = {}  # connection per handling greenlet

    def patch(self) -> None:
        # gunicorn's GeventWorker.patch, but only the network: the application runs in real
        # threads (below) and keeps real locks, sleeps and file calls.
        monkey.patch_socket()
        monkey.patch_ssl()
        monkey.patch_select()
        monkey.patch_selectors()
        self.sockets = [gevent_socket.socket(s.FAMILY, gevent_socket.SOCK_STREAM, fileno=s.sock.detach())
                        for s in self.sockets]

    def load_wsgi(self) -> None:
        try:
            super().load_wsgi()
            settings = load_settings()
        except ConfigError as error:
            self.refuse_boot(error)
        self.read_timeout = read_timeout()
        body_limit = settings.max_upload_bytes + FRAMING_ALLOWANCE
        pool = ThreadPool(self.cfg.threads)

        def in_thread(function, *args):
            return pool.spawn(function, *args).get()  # this greenlet waits, the loop goes on

        self.wsgi = buffer_bodies(self.wsgi, body_limit, self.read_timeout, in_thread, production=settings.production)

    def refuse_boot(self, error: ConfigError) -> NoReturn:
        # The gateway started with a configuration that loaded (gateway/__main__.py checks it), and
        # a file changed since: a users file saved half-way, a schema with a typo. A worker that
        # starts now (after a crash, or a SIGHUP racing the edit) cannot load it, and gunicorn halts
        # the whole gateway when a worker fails to boot, the workers serving with the configuration
        # in force included. This one says why and exits otherwise, after a pause (no busy loop):
        # gunicorn starts another, until the file is fixed.
        log_event(log, "worker_boot_refused", logging.ERROR, reason=str(error),
                  hint=f"the other workers keep the configuration in force; a new worker tries again in "
                       f"{BOOT_RETRY_SECONDS} s")
        time.sleep(BOOT_RETRY_SECONDS)
        raise SystemExit(1)

    # Stop signals around a worker's start. Ctrl-C of `make run` hung 30 s, one stop in four,
    # until the master SIGKILLed a worker that had missed them:
    # * between the fork and init_signals the worker still has the master's handlers, which put
    #   the signal into the master's queue (this process's copy of it) and nothing more;
    #   post_fork (gunicorn_conf.py) hands that queue over, and the worker looks into it;
    # * while the application loads (imports of pandas, xarray and zarr: seconds, tens on a
    #   loaded machine or a fresh clone), GeventWorker's exit waits in a greenlet for the event
    #   loop, which only runs after the load.
    # Nothing is in flight before the worker serves: it ends at once, with os._exit because a
    # SystemExit raised into an import may be swallowed there, and tearing down half-imported
    # libraries takes seconds of its own.
    def init_signals(self) -> None:
        super().init_signals()
        missed = getattr(self, "master_signals", None)
        while missed is not None:
            try:
                sig = missed.get_nowait()
            except queue.Empty:
                break
            if sig in STOP_SIGNALS:
                os._exit(0)

    def handle_quit(self, sig, frame) -> None:
        if not self.booted:
            os._exit(0)
        super().handle_quit(sig, frame)

    def handle_exit(self, sig, frame) -> None:
        if not self.booted:
            os._exit(0)
        super().handle_exit(sig, frame)

    def timeout_ctx(self):
        # gunicorn enters this around the reading of every request's headers, the first one
        # included. The deadline is for the whole headers, so a client trickling them is closed
        # too; False: on expiry the connection is closed quietly, there is nobody to answer.
        # The socket's own timeout is lifted meanwhile: it would end the wait with an error
        # that gunicorn logs with a traceback.
        client = self.clients.get(gevent.getcurrent())
        if client is not None:
            client.settimeout(None)
        return gevent.Timeout(self.cfg.keepalive, False)

    def handle(self, listener, client, addr) -> None:
        current = gevent.getcurrent()
        self.clients[current] = client
        try:
            super().handle(listener, client, addr)
        finally:
            del self.clients[current]
