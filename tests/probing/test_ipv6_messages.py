"""Messages name IPv6 hosts the way URLs write them: in brackets, so the port is unambiguous."""

from __future__ import annotations

import socket

import pytest

from checks.probing.types import ProbeTarget
from tests.probing.conftest import run_probe


def _closed_ipv6_port() -> int:
    try:
        sock = socket.socket(socket.AF_INET6)
        sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_refused_ipv6_connection_names_the_host_in_brackets():
    port = _closed_ipv6_port()
    outcome = run_probe(ProbeTarget("v6", f"http://[::1]:{port}/mcp", timeout_s=2))
    assert not outcome.ok and outcome.phase == "connect"
    assert f"[::1]:{port}" in outcome.error
    assert f" ::1:{port}" not in outcome.error
