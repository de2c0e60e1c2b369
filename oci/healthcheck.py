#!/opt/venv/bin/python
"""Container health probe: exit 0 when the service of this container answers 2xx in time.

Usage: ingress-healthcheck [URL]
Without a URL it probes what the container runs (one image, two commands): the gateway's
liveness route on $PORT, or the worker's metrics on $WORKER_METRICS_PORT, which the worker
serves once it holds the queue lock. Python because the slim image has no curl or wget.
"""
import os
import sys
import urllib.request
from pathlib import Path


def runs_worker() -> bool:
    """True when PID 1 is `python -m worker` (what `zarr-ingress worker` execs)."""
    try:
        args = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a == b"-m" and b == b"worker" for a, b in zip(args, args[1:]))


def default_url() -> str | None:
    if runs_worker():
        port = os.environ.get("WORKER_METRICS_PORT", "9101")
        return None if port == "0" else f"http://127.0.0.1:{port}/metrics"
    return f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else default_url()
    if url is None:
        return 0  # metrics turned off: the container runtime already watches the process
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if 200 <= response.status < 300 else 1
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
