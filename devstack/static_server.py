"""Serves ``h5_static/`` the way the CDN does: static files, and ``/api/*`` passed to the API origin.

In AWS, CloudFront has the static bucket as its default origin and API Gateway for ``/api/*`` (see
``infra/resources.yaml``), so pages and API share one origin. This server reproduces that locally.
"""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.servers import LocalServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


class CdnHandler(SimpleHTTPRequestHandler):
    api_origin: str = "http://127.0.0.1:8000"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet; the API logs its own requests

    def end_headers(self) -> None:
        if not self.path.startswith("/api/"):
            # HTML revalidates every time (new deploys show at once); assets may be cached briefly.
            cache = "no-cache" if self.path.split("?")[0].endswith((".html", "/")) else "public, max-age=300"
            self.send_header("Cache-Control", cache)
            self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def _proxy(self) -> None:
        origin = urllib.parse.urlsplit(self.api_origin)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
        conn = http.client.HTTPConnection(origin.hostname or "127.0.0.1", origin.port or 80, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except OSError:
            self.send_error(502, "API origin unavailable")
            return
        finally:
            conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.startswith("/api/"):
            self._proxy()
        else:
            super().do_GET()

    def do_HEAD(self) -> None:
        if self.path.startswith("/api/"):
            self._proxy()
        else:
            super().do_HEAD()

    def do_POST(self) -> None:
        if self.path.startswith("/api/"):
            self._proxy()
        else:
            self.send_error(405)

    do_PUT = do_DELETE = do_PATCH = do_POST


def start_cdn(root: Path, host: str, port: int, api_origin: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("BoundCdnHandler", (CdnHandler,), {"api_origin": api_origin})
    server = LocalServer((host, port), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="cdn", daemon=True)
    thread.start()
    return server, thread
