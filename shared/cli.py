"""`zarr-ingress`: one command for the container image and for operators.

    zarr-ingress gateway [gunicorn args]   -> python -m gateway
    zarr-ingress worker [args]             -> python -m worker
    zarr-ingress scheduler [--run-now NAME] -> python -m scheduler
    zarr-ingress queue ...                 -> python -m worker.queue_cli ...
    zarr-ingress schema check FILE...      -> python -m shared.schema_cli check FILE...
    zarr-ingress store ...                 -> python -m shared.store_cli ...
    zarr-ingress users new-key NAME        -> python -m gateway.users_cli new-key NAME

The dispatcher only names modules and execs them, so `shared` imports neither `gateway` nor
`worker`, and the started process is the service itself (signals reach it directly).
"""

from __future__ import annotations

import os
import sys

COMMANDS = {
    "gateway": ("gateway", "run the HTTP gateway (gunicorn)"),
    "worker": ("worker", "run the queue worker that merges uploads into their stores"),
    "scheduler": ("scheduler", "run the active_scrappers on their cron schedules (--run-now NAME: once)"),
    "queue": ("worker.queue_cli", "inspect and repair the queue: status, failed, show, retry, purge"),
    "schema": ("shared.schema_cli", "check schema files: schema check FILE... (errors and warnings)"),
    "store": ("shared.store_cli", "repair a store: remove a coordinate entry an operator names"),
    "users": ("gateway.users_cli", "users new-key NAME: a new API key and its USERS_FILE entry"),
}


def usage() -> str:
    lines = ["usage: zarr-ingress COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"zarr-ingress: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = COMMANDS[command][0]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *rest])
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
