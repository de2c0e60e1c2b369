"""The merge-engine tests' S3: a real moto server process on 127.0.0.1 and its credentials.

A module of its own, not part of conftest.py: test modules import these names, and a module
called ``conftest`` is a different one depending on which folders a pytest run collects.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

PYTHON = sys.executable
S3_KEY, S3_SECRET = "test-access-key", "test-secret-key-do-not-print"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto S3 server in its own process, over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET)
        self.proc = subprocess.Popen([PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                      str(self.port)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto server exited")
                time.sleep(0.2)
        raise RuntimeError("moto server did not start")

    def make_bucket(self, name: str) -> None:
        import boto3
        client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=S3_KEY,
                              aws_secret_access_key=S3_SECRET, region_name="us-east-1")
        client.create_bucket(Bucket=name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
