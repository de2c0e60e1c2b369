"""The baseline of bench/gateway.py: a bare WSGI app doing only the gateway's disk work.

Per request it reads the body, writes it and a small JSON sidecar to tmp/ with an fsync each,
renames both into accepted/ and fsyncs that folder, then answers 202. No framework, no auth, no
parsing, no id counter: what is left is the price of durability itself.
"""

from __future__ import annotations

import json
import os
import time

ROOT = os.environ["BARE_QUEUE_DIR"]
TMP = os.path.join(ROOT, "tmp")
ACCEPTED = os.path.join(ROOT, "accepted", "tree")
os.makedirs(TMP, exist_ok=True)
os.makedirs(ACCEPTED, exist_ok=True)


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(body: bytes) -> str:
    """The disk work of one upload: payload and sidecar fsynced in tmp/, renamed, folder fsynced."""
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
    return name


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    name = publish(environ["wsgi.input"].read(length))
    answer = json.dumps({"status": "accepted", "id": name}).encode()
    start_response("202 Accepted", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]
