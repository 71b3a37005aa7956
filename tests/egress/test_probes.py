"""Connect time: probes, health checks and TLS checks obey the egress policy on the resolved
address, once per connection and again on every redirect; a refusal is the probe's result."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from checks import sweep_db
from checks.models import ProbeResult
from checks.probing.h1 import ProbeClient
from checks.probing.sweep import probe_target
from checks.probing.tls_probe import probe_tls
from checks.probing.types import ProbeOutcome, ProbeTarget
from tests.egress.test_policy import REFUSED_URLS
from tests.factories import ServiceFactory


def _connectable(url: str) -> bool:
    """Whether the probe's URL parser (httpx) reads the metadata host itself. The rest are
    save-time parser tricks: httpx refuses them outright or reads another host."""
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return not any(t in url for t in ("\\", "%2f", "%31"))


CONNECT_URLS = [u for u in REFUSED_URLS if _connectable(u)]


def health(url: str) -> ProbeTarget:
    return ProbeTarget(name="t", url=url, kind="agent_backend", health_path="/health", timeout_s=5)


def run(target: ProbeTarget, client_kind: str = "h1") -> tuple[ProbeOutcome, int]:
    """Probe as a sweep does (or through a caller's httpx client); (outcome, connections made)."""

    async def go() -> tuple[ProbeOutcome, int]:
        if client_kind == "httpx":
            async with httpx.AsyncClient() as client:
                return await probe_target(target, client), -1
        async with ProbeClient() as client:
            return await probe_target(target, client), client.opened

    return asyncio.run(go())


@pytest.mark.parametrize("url", CONNECT_URLS)
@pytest.mark.parametrize("client_kind", ["h1", "httpx"])
def test_a_probe_never_connects_to_a_metadata_address(url, client_kind):
    outcome, opened = run(health(url), client_kind)
    assert not outcome.ok
    assert outcome.phase == "connect"
    assert "egress refused:" in outcome.error, outcome.error
    assert opened in (0, -1)


@pytest.mark.parametrize("url", [u for u in CONNECT_URLS if u.startswith("http://")][:8])
def test_the_mcp_probe_reports_the_refusal(url):
    outcome, opened = run(ProbeTarget(name="t", url=url, timeout_s=5))
    assert not outcome.ok and "egress refused:" in outcome.error and opened == 0


def test_dns_rebinding_is_caught_at_connect_time(listener, resolver):
    # The name answers loopback first (the check passes, the probe works), then metadata.
    dns = resolver({"rebind.test": [["127.0.0.1"], ["169.254.169.254"]]})
    target = health(f"http://rebind.test:{listener.port}")

    first, _ = run(target)
    assert first.ok, first.error
    assert listener.requests == [("GET", "/health", f"rebind.test:{listener.port}")]

    second, opened = run(target)
    assert not second.ok and second.phase == "connect"
    assert "egress refused: rebind.test resolved to a refused address: 169.254.169.254" in (
        second.error
    )
    assert opened == 0 and len(listener.requests) == 1
    assert dns.asked == ["rebind.test", "rebind.test"]  # one lookup per connection, no more


def test_a_name_with_one_metadata_answer_among_others_is_refused(listener, resolver):
    resolver({"mixed.test": [["127.0.0.1", "169.254.169.254"]]})
    outcome, opened = run(health(f"http://mixed.test:{listener.port}"))
    assert "egress refused" in outcome.error and opened == 0 and listener.requests == []


def test_the_httpx_fallback_pins_the_checked_address_and_keeps_the_host(listener, resolver):
    dns = resolver({"pinned.test": [["127.0.0.1"], ["169.254.169.254"]]})
    outcome, _ = run(health(f"http://pinned.test:{listener.port}"), "httpx")
    assert outcome.ok, outcome.error
    assert listener.requests == [("GET", "/health", f"pinned.test:{listener.port}")]
    assert dns.asked == ["pinned.test"]
    outcome, _ = run(health(f"http://pinned.test:{listener.port}"), "httpx")
    assert "egress refused" in outcome.error and len(listener.requests) == 1


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_a_redirect_to_metadata_is_refused_and_nothing_connects_there(listener, location):
    listener.reply = (302, {"Location": location}, b"")
    outcome, opened = run(health(listener.base))
    assert not outcome.ok
    assert "which was not followed: egress refused:" in outcome.error, outcome.error
    assert opened == 1 and len(listener.requests) == 1  # only the listener was reached


def test_a_same_host_redirect_is_checked_again_on_its_new_connection(listener, resolver):
    # The name still answers loopback for the first connection; the redirect (to https on the
    # same host) opens a new one, and by then the name answers metadata.
    resolver({"hop.test": [["127.0.0.1"], ["169.254.169.254"]]})
    listener.reply = (302, {"Location": f"https://hop.test:{listener.port}/health"}, b"")
    outcome, opened = run(health(f"http://hop.test:{listener.port}"))
    assert "egress refused: hop.test resolved to a refused address" in outcome.error
    assert opened == 1 and len(listener.requests) == 1


def test_the_deny_list_blocks_loopback_when_configured(listener, settings):
    settings.FLEET_EGRESS_DENY = (ipaddress.ip_network("127.0.0.0/8"),)
    outcome, opened = run(health(listener.base))
    assert outcome.error == (
        "connect: egress refused: 127.0.0.1 is in FLEET_EGRESS_DENY (127.0.0.0/8)"
    )
    assert opened == 0 and listener.requests == []


def test_loopback_is_allowed_by_default(listener):
    outcome, opened = run(health(listener.base))
    assert outcome.ok and opened == 1


@pytest.mark.parametrize("url", ["https://2852039166/", "https://[fd00:ec2::254]/"])
def test_the_tls_check_obeys_the_policy(url):
    info = asyncio.run(probe_tls(url, timeout_s=2))
    assert info.error.startswith("egress refused:"), info.error


@pytest.mark.django_db
def test_a_refused_service_is_recorded_as_a_failed_probe_not_a_crash(listener, resolver):
    # A row saved while the name still pointed somewhere harmless; now it answers metadata.
    resolver({"svc.test": [["169.254.169.254"]]})
    service = ServiceFactory(name="svc", url=f"http://svc.test:{listener.port}/mcp")
    sweep_db.ensure_configs()
    sweep_db.run_batch(sweep_db.claim_due())
    result = ProbeResult.objects.get(service=service)
    assert not result.ok and result.phase == "connect"
    assert "egress refused: svc.test resolved to a refused address: 169.254.169.254" in (
        result.error
    )
    assert listener.requests == []
