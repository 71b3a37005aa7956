"""`manage.py probe NAME [--json]` and `manage.py probe --all` against real servers."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from checks.models import ProbeResult
from tests.factories import ServiceFactory
from tests.mcp_servers import misbehaving as bad
from tests.mcp_servers.sdk_servers import demo_server, sse_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("probe", *args, stdout=out)
    return out.getvalue()


def test_probe_json_has_the_documented_fields(sdk_url):
    ServiceFactory(name="notes", url=sdk_url)
    data = json.loads(run("notes", "--json"))
    assert data["status"] == "up" and data["ok"] is True
    assert data["protocol_version"] == "2026-07-28" and data["transport"] == "stateless"
    assert data["server_name"] == "demo" and data["server_version"] == "2.0.0"
    assert data["tools"] == ["add", "echo", "fail"]
    assert data["error"] == "" and data["latency_ms"] > 0
    assert ProbeResult.objects.filter(service__name="notes").count() == 1


def test_probe_text_for_a_legacy_sse_server():
    with served(sse_app(demo_server("calendar", "0.1.0"))) as base:
        ServiceFactory(name="calendar", url=f"{base}/sse", transport="sse")
        text = run("calendar")
    assert text.startswith("calendar: ok in ")
    assert "spoke      sse, protocol 2025-11-25" in text
    assert "tools      add, echo, fail" in text


def test_probe_reports_the_error_of_a_broken_server():
    with served(bad.html_error_app()) as base:
        ServiceFactory(name="broken", url=f"{base}/mcp")
        data = json.loads(run("broken", "--json"))
    assert data["ok"] is False and data["tools"] == []
    assert "502" in data["error"] and "Bad Gateway'" not in data["error"]
    assert data["body_excerpt"] == "HTML page titled '502 Bad Gateway'"  # the CLI is operators'
    assert data["status"] == "unknown"  # one failure is below the default threshold of 3


def test_unknown_name_is_a_clear_error():
    ServiceFactory(name="notes")
    with pytest.raises(CommandError, match="No service named 'note'. Did you mean: notes?"):
        run("note")
    with pytest.raises(CommandError, match="Give either a service NAME or --all"):
        run()


def test_probe_all_prints_a_table(sdk_url):
    ServiceFactory(name="alpha", url=sdk_url)
    with served(bad.status_app(500)) as base:
        ServiceFactory(name="beta", url=f"{base}/mcp")
        text = run("--all")
    lines = text.splitlines()
    assert lines[0].split() == [
        "NAME",
        "STATUS",
        "CHECK",
        "LATENCY",
        "SPOKE",
        "PROTOCOL",
        "TOOLS",
        "ERROR",
    ]
    assert lines[1].split()[:3] == ["alpha", "up", "ok"]
    assert lines[2].split()[:3] == ["beta", "unknown", "FAIL"] and "500" in lines[2]
    assert lines[-1] == "2 checked, 1 ok, 1 failed."
