"""Browser-test fixtures: one Chromium per session, one live_server, a logged-in page per role at
each width, axe-core, and artefacts (screenshots, axe-summary.md/json) under $BROWSER_ARTEFACTS.

Use in a test module:

    pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

    def test_something(operator_page):          # runs at 390 px and at 1400 px
        check = operator_page.visit("Fleet", "/")
        assert_clean([check])

`open_page(role, width)` opens more pages (another role, a fixed width) in the same test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, BrowserContext

from fleet.operations.clouds.credentials import EMULATOR_ENV
from fleet.operations.clouds.pacing import Pacing
from tests.browser.fleet import BrowserFleet, build_fleet
from tests.browser.harness import (
    AXE_SOURCE,
    CSP_LISTENER,
    HEIGHTS,
    WIDTHS,
    ConsolePage,
    PageCheck,
    write_summary,
)
from tests.fakes.kubernetes import FakeKubernetes
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

ROOT = Path(__file__).resolve().parents[2]
FAST = Pacing(
    attempts=2,
    backoff_initial_s=0.01,
    backoff_max_s=0.02,
    poll_interval_s=0.01,
    poll_max_interval_s=0.03,
    request_timeout_s=5,
)


@pytest.fixture(scope="session")
def artefacts_dir() -> Path:
    """Where screenshots and axe summaries go: $BROWSER_ARTEFACTS, default var/browser-artefacts."""
    path = Path(os.environ.get("BROWSER_ARTEFACTS") or ROOT / "var" / "browser-artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def axe_source() -> str:
    return AXE_SOURCE.read_text()


@pytest.fixture(scope="session")
def page_checks(artefacts_dir: Path) -> Iterator[list[PageCheck]]:
    """Every page check of the session, written to axe-summary.md/json at the end."""
    results: list[PageCheck] = []
    yield results
    if results:
        write_summary(results, artefacts_dir)


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def width(request) -> int:
    """Parametrises a test over the widths every page must work at (a phone, a wide screen)."""
    return request.param


def _session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def open_page(
    browser: Browser, live_server, artefacts_dir, axe_source, page_checks
) -> Iterator[Callable[..., ConsolePage]]:
    """open_page(user_or_None, width, javascript=True) -> a ConsolePage logged in as that user
    (None: anonymous)."""
    contexts: list[BrowserContext] = []

    def _open(user: User | None, width: int, *, javascript: bool = True) -> ConsolePage:
        context = browser.new_context(
            java_script_enabled=javascript,
            viewport={"width": width, "height": HEIGHTS.get(width, 900)},
            device_scale_factor=1,
            timezone_id="Europe/Berlin",
            locale="en-GB",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        if user is not None:
            context.add_cookies(
                [
                    {
                        "name": settings.SESSION_COOKIE_NAME,
                        "value": _session_cookie(user),
                        "url": live_server.url,
                    }
                ]
            )
        page = context.new_page()
        console_page = ConsolePage(
            page,
            base_url=live_server.url,
            width=width,
            role=getattr(user, "username", "anonymous"),
            artefacts=artefacts_dir,
            axe_source=axe_source,
            results=page_checks,
        )
        context.expose_function("__fleetCspViolation", console_page.csp_violation)
        context.add_init_script(CSP_LISTENER)
        return console_page

    yield _open
    for context in contexts:
        context.close()


@pytest.fixture
def viewer_page(open_page, viewer, width) -> ConsolePage:
    return open_page(viewer, width)


@pytest.fixture
def operator_page(open_page, operator, width) -> ConsolePage:
    return open_page(operator, width)


@pytest.fixture
def admin_page(open_page, admin_user, width) -> ConsolePage:
    return open_page(admin_user, width)


# -- a lived-in fleet on a Kubernetes cluster (the strict fake) with a real MCP server ------------
@pytest.fixture(scope="session")
def mcp_url() -> Iterator[str]:
    """A real MCP server (official SDK) on loopback: what probes, audits and redeploys check."""
    with served(streamable_app(demo_server("weather", "1.4.2"), json_response=True)) as base:
        yield f"{base}/mcp"


@pytest.fixture
def kube(settings, monkeypatch) -> Iterator[FakeKubernetes]:
    """The Kubernetes API fake, seeded with two MCP server Deployments; fast cloud polling."""
    monkeypatch.setenv(EMULATOR_ENV, "1")
    settings.FLEET_CLOUD_PACING = FAST
    settings.FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = 5
    with FakeKubernetes(rollout_gets=2) as fake:
        fake.add_deployment("mcp-weather", hpa=(2, 6), labels={"mcp-server": "true"})
        fake.add_deployment("mcp-files", replicas=1, labels={"mcp-server": "true"})
        yield fake


@pytest.fixture
def fleet(kube, mcp_url, admin_user) -> BrowserFleet:
    return build_fleet(admin_user, kube_endpoint=kube.endpoint, mcp_url=mcp_url)
