"""One browser test: Debian's chromium logs in and sees the live demo fleet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from console.management.commands.up import free_ports, wait_for_port
from fleet.demo.fleet import demo_fleet
from fleet.demo.servers import DEMO_ORDER
from fleet.fleetfile import import_fleet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_servers():
    ports = free_ports(len(DEMO_ORDER))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.demo.servers", "--ports", ",".join(map(str, ports))],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert all(wait_for_port(p) for p in ports), "demo servers did not start"
        yield dict(zip(DEMO_ORDER, ports, strict=True))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_login_and_see_the_demo_fleet(page, live_server, demo_servers, operator):
    import_fleet(demo_fleet(demo_servers), actor="test")

    page.goto(live_server.url + "/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "otto")
    page.fill("input[name=password]", "otto-pass-123")
    page.click("button[type=submit]")

    page.wait_for_selector("table.services")
    rows = page.locator("table.services tbody tr")
    assert rows.count() == len(DEMO_ORDER)
    for name in DEMO_ORDER:
        assert page.locator(f"table.services a:text-is('{name}')").count() == 1
    assert f"{len(DEMO_ORDER)} services" in page.locator("#fleet-totals").inner_text()

    # Filtering goes through htmx and keeps the state in the URL.
    page.select_option("select[name=team]", "platform")
    expect(page.locator("table.services tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"team=platform"))

    page.click("table.services a:text-is('notes')")
    page.wait_for_selector("text=Blast radius")
    assert "assistant" in page.locator("section.card", has_text="Blast radius").inner_text()
