"""`python -m gateway [gunicorn args]`: check the configuration, then become gunicorn.

A bad configuration ends here with one line on stderr and exit status 2, before any worker
starts. Otherwise this process execs gunicorn (so signals reach the gunicorn master directly),
which serves `gateway.app:create_app()` with `gateway/gunicorn_conf.py`.
`python -m gateway --check-config` makes the same check and exits (0 when it passes); the
master runs it before a SIGHUP reload (gateway/reload.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shared.config import ConfigError, load_settings, read_dotenv
from shared.logs import configure_logging

CONFIG = Path(__file__).with_name("gunicorn_conf.py")
DOTENV = Path(".env")
# Read by gunicorn_conf.py (and WEB_CONCURRENCY by gunicorn itself) from the environment only.
GUNICORN_COUNTS = ("WEB_CONCURRENCY", "GUNICORN_THREADS", "GRACEFUL_TIMEOUT", "READ_TIMEOUT", "WORKER_CONNECTIONS")
GUNICORN_VARIABLES = ("HOST", *GUNICORN_COUNTS)
CHECK_ONLY = "--check-config"  # gunicorn's flag of the same meaning, answered here without gunicorn


def prepare_environment() -> None:
    """Take gunicorn's variables from `.env` too, and refuse bad numbers with one line."""
    if DOTENV.is_file():
        for name, value in read_dotenv(DOTENV).items():
            if name in GUNICORN_VARIABLES:
                os.environ.setdefault(name, value)
    for name in GUNICORN_COUNTS:
        value = os.environ.get(name, "").strip()
        if value and (not value.isdigit() or int(value) < 1):
            raise ConfigError(f"{name}: {value!r} is not a positive whole number")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        prepare_environment()
        from gateway.app import create_app

        settings = load_settings(dotenv=DOTENV)
        configure_logging(settings.log_level, settings.log_format)
        create_app(settings)
    except ConfigError as error:
        print(f"zarr-ingress gateway: {error}", file=sys.stderr)
        return 2
    if CHECK_ONLY in args:
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), *args, "gateway.app:create_app()"]
    os.execv(sys.executable, command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
