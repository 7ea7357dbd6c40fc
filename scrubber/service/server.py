"""The uvicorn server behind `scrubber serve`: its configuration (JSON logs in every worker process,
timeouts, TLS, forwarded headers) and an HTTP protocol that closes connections stalled in their
request head."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from scrubber import limits
from scrubber.service.observability import log_config

log = logging.getLogger("scrubber.service.server")

APP = "scrubber.service.app:create_app"


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout: a connection that has not sent a complete
    request line and headers within `config.header_timeout` seconds of being opened, or of its last
    response, is closed. (uvicorn's keep-alive timer stops at the first byte received, so a client
    that sent half a request head and then nothing held its connection for ever.)"""

    def __init__(self, config: uvicorn.Config, *args, **kwargs) -> None:
        super().__init__(config, *args, **kwargs)
        self.header_timeout: float = getattr(config, "header_timeout", limits.REQUEST_HEADER_TIMEOUT_S)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a whole request head is in
            self._stop_head_timer()
        elif self._head_timer is None:  # a request (its unread body) just ended: the next head is timed
            self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("connection closed: no complete request head in time",
                     extra={"client": self.client[0] if self.client else None})
            self.transport.close()


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration, with the request-head timeout that TimedH11Protocol reads (in each
    worker process: the configuration is handed to the workers whole)."""

    def __init__(self, app: str = APP, *, header_timeout: float = limits.REQUEST_HEADER_TIMEOUT_S, **options) -> None:
        self.header_timeout = header_timeout
        super().__init__(app, http=TimedH11Protocol, **options)


def server_config(*, host: str, port: int, workers: int = 1,
                  header_timeout: float = limits.REQUEST_HEADER_TIMEOUT_S,
                  ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
                  proxy_headers: bool = True, forwarded_allow_ips: str | None = None) -> ServerConfig:
    """The configuration of `scrubber serve`: the app factory, JSON logs in every worker process (no
    access log: the app logs each request with its id), the keep-alive and request-head timeouts,
    TLS when a certificate and key are given, forwarded headers trusted from `forwarded_allow_ips`
    (uvicorn's default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)."""
    return ServerConfig(
        APP, factory=True, host=host, port=port, workers=workers, log_config=log_config(), access_log=False,
        timeout_keep_alive=limits.KEEP_ALIVE_TIMEOUT_S, header_timeout=header_timeout,
        ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
        proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips)


def serve(config: ServerConfig) -> None:
    """Run the server: in this process with one worker, else under uvicorn's process supervisor."""
    if config.workers == 1:
        uvicorn.Server(config).run()
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # /metrics sums over the worker processes
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scrubber-metrics-")
    # uvicorn binds the shared socket of several workers without IPPROTO_TCP, so asyncio never sets
    # TCP_NODELAY on its connections and every answer waits ~40 ms for a delayed ACK
    # (Kludex/uvicorn#3149): bind it here, as a TCP socket.
    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    scheme = "https" if config.is_ssl else "http"
    log.info(f"serving on {scheme}://{config.host}:{config.port} with {config.workers} workers")
    Multiprocess(config, sockets=[sock]).run()
