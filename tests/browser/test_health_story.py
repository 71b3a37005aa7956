"""In the browser: "Check now" on a service that is up, when the check fails, shows the failure and
the panel tells one story (still up, 1 of 3 failed checks before down); no "down" badge appears, and
the uptime table and the charts below show the new check without reloading the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.models import CheckConfig
from tests.browser.harness import assert_clean
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLOSED_PORT_URL = "http://127.0.0.1:9/mcp"  # nothing listens: the check fails at once


@pytest.fixture
def up_service():
    service = ServiceFactory(
        name="notes",
        url=CLOSED_PORT_URL,
        status="up",
        status_changed_at=timezone.now() - timedelta(hours=2),
    )
    CheckConfig.objects.create(service=service, failure_threshold=3, recovery_threshold=2)
    return service


def test_check_now_tells_one_story(open_page, operator, up_service):
    page_ = open_page(operator, 1400)
    page = page_.goto("/services/notes/")
    page.locator("#health-panel button", has_text="Check now").click()
    expect(page.locator("#check-now")).to_contain_text("This check failed", timeout=15_000)
    status = page.locator("#health-status")
    expect(status).to_contain_text("up since 2 hours ago")
    expect(status).to_contain_text("failed")
    expect(status).to_contain_text("1 of 3 failed checks in a row before it is marked down.")
    expect(page.locator(".badge.status-down")).to_have_count(0)
    expect(page.locator("#service-status")).to_have_text("up")
    # the figures the check changed came along: the tables count it and the charts are drawn
    expect(page.locator("#health-summary tbody tr").first).to_contain_text("0.00%")
    expect(page.locator("#latency-chart figure.chart-drawn canvas")).to_have_count(1)
    expect(page.locator("#phase-chart figure.chart-drawn canvas")).to_have_count(1)
    expect(page.locator("#phase-chart")).to_contain_text("phases of the last 1 check")
    assert_clean([page_.check("Service page after a failed Check now")])
