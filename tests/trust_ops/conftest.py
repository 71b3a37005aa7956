"""Fixtures for the fault tests: a broker that is down (a closed port on loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from console.celery import app as celery_app


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_connections() -> None:
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down() -> Iterator[str]:
    """Celery sends to Redis on a closed port, for real (not eagerly in-process)."""
    conf = celery_app.conf
    saved = {k: conf[k] for k in ("broker_url", "task_always_eager", "broker_transport_options")}
    url = f"redis://127.0.0.1:{closed_port()}/4"
    conf.update(broker_url=url, task_always_eager=False, broker_transport_options={})
    _reset_connections()
    try:
        yield url
    finally:
        conf.update(saved)
        _reset_connections()
