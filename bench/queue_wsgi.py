"""The middle line of bench/gateway.py: `shared.queue.Queue.enqueue` alone behind bare WSGI.

No Flask, no auth, no parsing or schema check: the difference to the bare app is the cost of the
queue protocol (id counter, sidecar record, checks); the difference to the gateway is the cost of
the HTTP framework and the checks before 202.
"""

from __future__ import annotations

import json
import os

from shared.queue import Queue

QUEUE = Queue(os.environ["QUEUE_DIR"])


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    sidecar = QUEUE.enqueue("tree", body, format="csv", content_type="text/csv")
    answer = json.dumps({"status": "accepted", "id": sidecar.id}).encode()
    start_response("202 Accepted", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]
