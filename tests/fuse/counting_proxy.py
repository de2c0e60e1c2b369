"""A reverse proxy on 127.0.0.1 that forwards every request to an S3 server and records it, so
tests and the benchmark count S3 requests on the server's side of the wire."""
from __future__ import annotations

import http.client
import http.server
import socket
import socketserver
import threading


class CountingProxy:
    def __init__(self, target_port: int, port: int = 0) -> None:
        self.requests: list[tuple[str, str]] = []     # (method, path), in arrival order
        self._lock = threading.Lock()
        self._connections: set = set()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._connections.add(self.connection)

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=120)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                resp = conn.getresponse()
                data = resp.read()
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def total(self) -> int:
        return len(self.requests)

    def since(self, start: int) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests[start:])

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections, like a server that went away."""
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()
