"""The local stack's HTTP servers: threaded, with a listen backlog fit for a rush. ``socketserver``'s default
backlog of 5 makes the kernel reset connections when dozens of clients connect at once (seen in the release
rush benchmark); API Gateway and CloudFront queue them instead."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from chalice.local import ThreadedHTTPServer

BACKLOG = 256


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


def widen_chalice_local_backlog() -> None:
    """``chalice local``'s server class (``create_local_server`` builds it) gets the same backlog."""
    ThreadedHTTPServer.request_queue_size = BACKLOG
