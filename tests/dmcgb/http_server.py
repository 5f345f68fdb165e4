"""A small threaded HTTP server on 127.0.0.1 for the downloader tests.

It serves one folder with HTTP Range support, and can misbehave on request: hang up after
a number of bytes (a given number of times), or ignore Range headers. It records the Range
header of every request so tests can check that a download resumed.
"""

from __future__ import annotations

import posixpath
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-$")


class FileServer(ThreadingHTTPServer):
    """Serves ``root`` at ``self.url``; use as a context manager.

    Attributes:
        hang_up_after: bytes of body sent before the connection is dropped, or None.
        hang_ups_left: how many more responses hang up (then it behaves again).
        ignore_range: answer 200 with the whole file even when a Range is asked for.
        requests: (path, Range header or None) of every GET, in order.
    """

    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root).resolve()
        self.hang_up_after: int | None = None
        self.hang_ups_left = 0
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:
        server = self.server
        rel = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        range_header = self.headers.get("Range")
        server.requests.append((rel, range_header))
        path = (server.root / rel.lstrip("/")).resolve()
        if server.root not in path.parents or not path.is_file():
            self._send_status(404, "Not Found")
            return
        data = path.read_bytes()
        start = 0
        match = _RANGE.match(range_header or "")
        if match and not server.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416, "Range Not Satisfiable")
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206, "Partial Content")
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200, "OK")
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if server.hang_up_after is not None and server.hang_ups_left > 0:
            server.hang_ups_left -= 1
            self.wfile.write(body[: server.hang_up_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def _send_status(self, code: int, reason: str) -> None:
        body = f"{code} {reason}\n".encode()
        self.send_response(code, reason)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
