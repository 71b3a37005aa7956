"""Every main page at a phone's width and a wide screen's: no horizontal page overflow, axe-core
finds nothing critical or serious, no console error, failed request or CSP violation. A screenshot
of each is saved under $BROWSER_ARTEFACTS (default var/browser-artefacts/), with axe-summary.md."""

from __future__ import annotations

import pytest

from tests.browser.harness import assert_clean

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def main_pages(fleet) -> list[tuple[str, str]]:
    weather, account = fleet.weather.name, fleet.account.name
    return [
        ("Dashboard", "/"),
        ("Service detail", f"/services/{weather}/"),
        ("Audit scorecard", "/audits/"),
        ("Audit run", f"/audits/runs/{fleet.audit_run.pk}/"),
        ("Audit of a service", f"/audits/services/{weather}/"),
        ("Budgets", "/budgets/"),
        ("Budget detail", f"/budgets/{fleet.budget.pk}/"),
        ("Budget what-if", f"/services/{weather}/cost-estimate/"),
        ("Alerts", "/alerts/"),
        ("Alert channels", "/alerts/channels/"),
        ("Incidents", "/incidents/"),
        ("Redeploys", "/redeploys/"),
        ("Redeploy detail", f"/redeploys/{fleet.redeploy.pk}/"),
        ("Release form", f"/services/{weather}/release/"),
        ("Scaling form", f"/services/{weather}/scaling/"),
        ("Accounts", "/accounts/"),
        ("Discover", f"/accounts/{account}/discover/"),
        ("Dependencies", "/dependencies/"),
        ("Audit log", "/audit-log/"),
        ("API tokens", "/tokens/"),
        ("Job detail", f"/jobs/{fleet.job.pk}/"),
        ("Fleet import", "/fleet-file/"),
        ("Register service", "/services/new/"),
    ]


NARROWEST = 360  # the smallest phone the layout is made for


def test_every_main_page_is_clean(admin_page, fleet):
    checks, too_wide = [], []
    for name, path in main_pages(fleet):
        checks.append(admin_page.visit(name, path))
        if admin_page.width < 1000 and (extra := admin_page.overflow_px_at(NARROWEST)):
            too_wide.append(f"{name} @ {NARROWEST}px: page is {extra} px wider than the viewport")
    assert_clean(checks)
    assert not too_wide, "\n".join(too_wide)


def test_the_login_page_is_clean(open_page, width):
    page = open_page(None, width)
    assert_clean([page.visit("Log in", "/login/")])


def test_the_api_docs_render_their_operations_from_static_files(open_page, admin_user, width):
    page = open_page(admin_user, width)
    page.goto("/api/v1/docs")
    operations = page.page.locator(".opblock")
    operations.first.wait_for()
    assert operations.count() > 20
    assert page.page.locator(".opblock-summary-path", has_text="/services").count() >= 1
    assert_clean([page.check("API docs")])
