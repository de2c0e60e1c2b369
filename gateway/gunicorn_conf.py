"""gunicorn settings for the gateway (`zarr-ingress gateway` / `python -m gateway`).

PORT (default 8000, also from `.env`), HOST (default 0.0.0.0), WEB_CONCURRENCY worker processes
(default 2), GUNICORN_THREADS per worker that run the application (default 4: threads overlap
one upload's fsyncs with the next one's parsing), GRACEFUL_TIMEOUT seconds to finish uploads in
flight on SIGTERM (default 30), READ_TIMEOUT seconds a client may pause while sending a body
(default 30), WORKER_CONNECTIONS open connections per worker process (default 1000).
Command-line arguments override all of these.

The workers are gevent workers with deadlines (gateway/slow_clients.py), so that slow or stalled
clients cost a greenlet each, not one of the threads. `--worker-class gthread` brings back the
thread workers of version 1 (a thread per connection, no read timeout), which the slow-client
bench uses as its "before".
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile

from gateway.gunicorn_logs import GatewayLogger
from gateway.reload import check_before_reload
import gateway.login_limit  # noqa: F401  # its GATEWAY_KEY made here, in the master: every worker shares it
from gateway.slow_clients import DeadlineWorker
from shared.config import ConfigError, load_settings
from shared.fuse.units import parse_units_only
from shared.logs import configure_logging

try:
    _settings = load_settings()
except ConfigError as error:
    sys.exit(f"zarr-ingress gateway: {error}")
# Here, in the master before the fork: the workers (the app) inherit the handler and LOG_FORMAT.
configure_logging(_settings.log_level, _settings.log_format)


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or int(value) < 1:
        sys.exit(f"zarr-ingress gateway: {name}: {value!r} is not a positive whole number")
    return int(value)


bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{_settings.port}"]
workers = _count("WEB_CONCURRENCY", 2)
# The class itself, not its dotted name: gunicorn would look the name up after --pythonpath,
# where another `gateway` module may come first (bench/gateway.py).
worker_class = DeadlineWorker
worker_connections = _count("WORKER_CONNECTIONS", 1000)
threads = _count("GUNICORN_THREADS", 4)  # the application's threads per worker (both worker classes)
graceful_timeout = _count("GRACEFUL_TIMEOUT", 30)
_count("READ_TIMEOUT", 30)  # read by the worker (gateway/slow_clients.py); refused here if bad
timeout = 60
keepalive = 5  # also the deadline for a request's headers (gateway/slow_clients.py)
loglevel = _settings.log_level.lower()
logger_class = GatewayLogger  # gunicorn's lines in LOG_FORMAT too (gateway/gunicorn_logs.py)
accesslog = "-"  # one line per request, on stderr with the rest
control_socket_disable = True  # several gateways (tests, benches) may share one host and HOME
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # worker heartbeats off the (possibly slow) disk

# prometheus_client decides at import time whether to count per process in files: the variable
# must be set before any worker imports it, i.e. here, in the master, before the fork.
# The files are memory-mapped and written at every request; in memory (/dev/shm) their dirty
# pages do not ride along with every fsync of the queue's disk (measured: ~1.5x throughput).
# The folder is named after the master's pid: on_exit removes its own, and a later start removes
# those of masters that died without on_exit (kill -9).
METRICS_PREFIX = "zarr-ingress-metrics-"
_master = os.getpid()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _in_memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{_master}-", dir=_in_memory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def on_starting(server) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    # Counts of an earlier run in a reused directory would be added to this run's.
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.unlink(os.path.join(folder, name))
    parent = os.path.dirname(folder)
    try:
        names = os.listdir(parent)
    except OSError:
        names = []
    for name in names:
        pid = name[len(METRICS_PREFIX):].split("-")[0] if name.startswith(METRICS_PREFIX) else ""
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def when_ready(server) -> None:
    check_before_reload(server)  # SIGHUP: new workers only with a configuration that loads


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if os.path.basename(folder).startswith(f"{METRICS_PREFIX}{os.getpid()}-"):
        shutil.rmtree(folder, ignore_errors=True)


def post_fork(server, worker) -> None:
    # Until the worker sets its own handlers, a stop signal lands in the master's queue (this
    # process's copy); the worker looks there once they are set (gateway/slow_clients.py).
    worker.master_signals = server.SIG_QUEUE
    # A gateway process reads schemas (units parsed and compared) but never converts values:
    # pint without numpy, ~10 MB less per worker (shared/fuse/units.py).
    parse_units_only()


def post_worker_init(worker) -> None:
    # The app's libraries (flask, pint's unit registry) and the schemas: tens of thousands of
    # long-lived objects that every full garbage collection would walk again during requests.
    gc.collect()
    gc.freeze()
