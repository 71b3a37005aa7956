"""Serve an ASGI app with uvicorn on 127.0.0.1:<free port> in a background thread, for tests."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main thread (it runs in a thread)."""

    def install_signal_handlers(self) -> None:  # pragma: no cover - uvicorn API hook
        return


def serve_app(
    app: Any,
    *,
    port: int = 0,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_ca_certs: str | None = None,
) -> tuple[str, Callable[[], None]]:
    """Start `app` on loopback (a free port unless `port` is given); return base URL and stopper.

    `ssl_ca_certs`: require a client certificate issued by these CAs (mutual TLS)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="auto",
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        ssl_ca_certs=ssl_ca_certs,
        ssl_cert_reqs=ssl.CERT_REQUIRED if ssl_ca_certs else ssl.CERT_NONE,
        # A probe that hangs up mid-stream must not keep the test server from stopping.
        timeout_graceful_shutdown=1,
    )
    server = _QuietServer(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    scheme = "https" if ssl_certfile else "http"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=5)

    return f"{scheme}://127.0.0.1:{port}", stop


@contextmanager
def served(app: Any, **kwargs: Any) -> Iterator[str]:
    """Context manager form of `serve_app`: yields the base URL and stops the server on exit."""
    url, stop = serve_app(app, **kwargs)
    try:
        yield url
    finally:
        stop()
