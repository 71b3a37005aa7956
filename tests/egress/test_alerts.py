"""Webhooks, Slack and SMTP obey the egress policy at connect time; redirects are not followed."""

from __future__ import annotations

import ipaddress
import socketserver
import threading
from collections.abc import Iterator

import pytest

from console.notifications import transports
from console.notifications.transports import DeliveryError
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db
PAYLOAD = {"text": "down", "subject": "down", "body": "down", "to": ["ops@example.com"]}


def deliver(channel) -> DeliveryError:
    with pytest.raises(DeliveryError) as exc:
        transports.send(channel, PAYLOAD)
    return exc.value


@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_a_target_whose_name_resolves_to_metadata_is_refused(kind, resolver, listener):
    resolver({"hooks.test": [["169.254.169.254"]]})
    channel = ChannelFactory(type=kind, target=f"http://hooks.test:{listener.port}/hook")
    error = deliver(channel)
    assert str(error) == (
        "egress refused: hooks.test resolved to a refused address: "
        "169.254.169.254 is a link-local/metadata address"
    )
    assert not error.retryable and listener.requests == []


def test_a_webhook_reaches_a_checked_address_under_its_own_name(resolver, listener):
    resolver({"hooks.test": [["127.0.0.1"]]})
    channel = ChannelFactory(type="webhook", target=f"http://hooks.test:{listener.port}/hook")
    assert transports.send(channel, PAYLOAD) == 200
    assert listener.requests == [("POST", "/hook", f"hooks.test:{listener.port}")]


def test_a_webhook_redirect_to_metadata_is_not_followed(listener):
    listener.reply = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    error = deliver(ChannelFactory(type="webhook", target=f"{listener.base}/hook"))
    assert str(error).startswith(
        "HTTP 302 redirect to http://169.254.169.254/latest/meta-data/ not followed "
        "(egress refused: 169.254.169.254 is a link-local/metadata address)"
    )
    assert not error.retryable and len(listener.requests) == 1


def test_the_deny_list_blocks_a_loopback_webhook(listener, settings):
    settings.FLEET_EGRESS_DENY = (ipaddress.ip_network("127.0.0.0/8"),)
    error = deliver(ChannelFactory(type="slack", target=f"{listener.base}/hook"))
    assert "127.0.0.1 is in FLEET_EGRESS_DENY (127.0.0.0/8)" in str(error)
    assert listener.requests == []


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) to accept one message: greeting, EHLO, MAIL, RCPT, DATA."""

    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        self.wfile.write(b"220 fake ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                self.server.messages += 1  # type: ignore[attr-defined]
            if verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.connections = server.messages = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    settings.EMAIL_BACKEND = "console.notifications.smtp.EmailBackend"
    settings.EMAIL_HOST = "mail.test"
    settings.EMAIL_PORT = smtp_server.server_address[1]
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return settings


def test_email_goes_to_the_checked_address_of_the_smtp_host(smtp_settings, smtp_server, resolver):
    resolver({"mail.test": [["127.0.0.1"]]})
    transports.send(ChannelFactory(type="email", target="ops@example.com"), PAYLOAD)
    assert smtp_server.messages == 1


def test_email_to_an_smtp_host_resolving_to_metadata_is_refused(
    smtp_settings, smtp_server, resolver
):
    resolver({"mail.test": [["169.254.169.254"]]})
    error = deliver(ChannelFactory(type="email", target="ops@example.com"))
    assert "egress refused: mail.test resolved to a refused address: 169.254.169.254" in str(error)
    assert not error.retryable and smtp_server.connections == 0
