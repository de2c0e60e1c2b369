"""`python -m gateway [gunicorn args]`: check the configuration, then become gunicorn.

A bad configuration ends here with one line on stderr and exit status 2, before any worker
starts. Otherwise this process execs gunicorn (so signals reach the gunicorn master directly),
which serves `gateway.app:create_app()` with `gateway/gunicorn_conf.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shared.config import ConfigError, load_settings

CONFIG = Path(__file__).with_name("gunicorn_conf.py")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        from gateway.app import create_app

        create_app(load_settings())
    except ConfigError as error:
        print(f"zarr-ingress gateway: {error}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), *args, "gateway.app:create_app()"]
    os.execv(sys.executable, command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
