"""A target that answers with an endless body costs the worker a bounded amount of memory:
webhook and Slack answers and OAuth token endpoints are read only up to their caps."""

from __future__ import annotations

import socket
import threading
import tracemalloc
from collections.abc import Iterator

import pytest

from checks import oauth
from console.notifications import transports
from console.notifications.transports import DeliveryError
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db
ANSWER_BYTES = 64 * 1024 * 1024


@pytest.fixture
def firehose() -> Iterator[str]:
    """Answers any request with a status line and then 64 MiB of body, as fast as it is read."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        chunk = b"x" * 65536
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                        + f"Content-Length: {ANSWER_BYTES}\r\n\r\n".encode()
                    )
                    for _ in range(ANSWER_BYTES // len(chunk)):
                        conn.sendall(chunk)
                except OSError:
                    pass  # the client stopped reading: what we want

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def _peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        outcome = call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return outcome, peak


def test_a_webhook_answering_without_end_is_read_only_up_to_the_cap(firehose):
    channel = ChannelFactory(type="webhook", target=f"{firehose}/hook")

    def deliver():
        with pytest.raises(DeliveryError) as exc:
            transports.send(channel, {"text": "down"})
        return exc.value

    error, peak = _peak_bytes(deliver)
    assert str(error).startswith("HTTP 500 (") and error.retryable
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.0f} MiB held for one answer"


def test_a_token_endpoint_answering_without_end_is_refused_at_the_cap(firehose):
    oauth.forget_tokens()
    creds = oauth.ClientCredentials(f"{firehose}/token", "probe-client", "secret")

    def fetch():
        with pytest.raises(oauth.TokenError) as exc:
            oauth.access_token(creds, timeout_s=5)
        return exc.value

    error, peak = _peak_bytes(fetch)
    assert "answered with more than 64 KiB" in str(error)
    assert peak < 8 * 1024 * 1024, f"{peak / 2**20:.0f} MiB held for one answer"
