"""The baseline issue 11 names: a bare Flask app under gunicorn doing the gateway's disk work.

The same disk work as bench/bare_wsgi.py (body and a small JSON sidecar written to tmp/ with an
fsync each, both renamed into accepted/, that folder fsynced, 202), behind one Flask route and
Flask's own request and response objects. No auth, no parsing, no id counter. bare_wsgi.py is
the stricter line below it: the same work with no framework at all.
"""

from __future__ import annotations

from flask import Flask, request

from bare_wsgi import publish  # the same disk work, the same folders

app = Flask(__name__)


@app.post("/api/v1/tree")
def upload():
    return {"status": "accepted", "id": publish(request.get_data())}, 202
