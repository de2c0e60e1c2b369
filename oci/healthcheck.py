#!/opt/venv/bin/python
"""Container health probe: exit 0 when the URL answers 2xx within the timeout.

Usage: ingress-healthcheck [URL]   (default: the gateway's liveness route on $PORT)
Written in Python because the slim base image has no curl or wget.
"""
import os
import sys
import urllib.request


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if 200 <= response.status < 300 else 1
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
