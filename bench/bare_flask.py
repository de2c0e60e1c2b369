"""The baseline issue 11 names: a bare Flask app under gunicorn doing the gateway's disk work.

The same disk work as bench/bare_wsgi.py (body and a small JSON sidecar written to tmp/ with an
fsync each, both renamed into accepted/, that folder fsynced, 202), behind one Flask route and
Flask's own request and response objects. No auth, no parsing, no id counter. bare_wsgi.py is
the stricter line below it: the same work with no framework at all.
"""

from __future__ import annotations

import json
import os
import time

from flask import Flask, request

from bare_wsgi import ACCEPTED, TMP, _write  # noqa: F401  (same folders, made on import)

app = Flask(__name__)


@app.post("/api/v1/tree")
def upload():
    body = request.get_data()
    name = f"{time.time_ns()}-{os.getpid()}"
    sidecar = json.dumps({"id": name, "endpoint": "tree", "size": len(body)}).encode()
    _write(os.path.join(TMP, name + ".csv"), body)
    _write(os.path.join(TMP, name + ".csv.meta.json"), sidecar)
    os.replace(os.path.join(TMP, name + ".csv"), os.path.join(ACCEPTED, name + ".csv"))
    os.replace(os.path.join(TMP, name + ".csv.meta.json"), os.path.join(ACCEPTED, name + ".csv.meta.json"))
    fd = os.open(ACCEPTED, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"status": "accepted", "id": name}, 202
