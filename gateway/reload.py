"""SIGHUP to the gunicorn master: new workers with the configuration read anew, if it loads.

gunicorn's own SIGHUP reads its config file again, starts new workers (each builds the app, so
the users file, the endpoints file and the schemas are read anew) and stops the old ones
gracefully. A configuration that no longer loads would stop the whole gateway there: the
config file ends the master, or the new workers fail to boot and gunicorn halts. So the master
first checks the configuration as a start would, in a child process (`python -m gateway
--check-config`: the app's imports stay out of the master, whose forks are the workers); when it
fails, one `reload_refused` line names what to fix and the workers in force go on serving.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from shared.logs import log_event

log = logging.getLogger("zarr_ingress.gateway")

CHECK_TIMEOUT = 120  # seconds; a start's check takes one or two, tens on a loaded machine
PROGRAM = "zarr-ingress gateway: "  # how gateway/__main__.py starts the line of a bad configuration
# `python -m gateway --check-config` of the `gateway` package this master runs, whatever the
# working directory (first on a child's sys.path, and where `.env` is read) holds.
SOURCE_ROOT = str(Path(__file__).resolve().parents[1])
CHECK = ("import sys; sys.path.insert(0, sys.argv[1]); from gateway.__main__ import main; "
         "sys.exit(main(['--check-config']))")


def check_configuration() -> str | None:
    """None when the configuration check passes, else the reason it gave (its last line)."""
    environ = dict(os.environ)
    # The check's app is not a worker: counts it made would be added to the workers' metrics.
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        check = subprocess.run([sys.executable, "-c", CHECK, SOURCE_ROOT], env=environ, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"the configuration check did not finish within {CHECK_TIMEOUT} s"
    if check.returncode == 0:
        return None
    lines = [line for line in check.stderr.splitlines() if line.startswith(PROGRAM)]
    if lines:
        return lines[-1][len(PROGRAM):]
    tail = check.stderr.strip().splitlines()[-1:] or ["no output"]
    return f"the configuration check exited with status {check.returncode}: {tail[0]}"


def check_before_reload(server) -> None:
    """Have `server` (gunicorn's arbiter) reload on SIGHUP only a configuration that loads."""
    reload = server.handle_hup  # gunicorn's run loop calls handle_<signal> by name

    def handle_hup() -> None:
        reason = check_configuration()
        if reason is not None:
            log_event(log, "reload_refused", logging.ERROR, reason=reason,
                      hint="the workers keep the configuration in force; fix it and send SIGHUP again")
            return
        reload()

    server.handle_hup = handle_hup
