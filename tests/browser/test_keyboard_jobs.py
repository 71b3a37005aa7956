"""The four jobs the console is for, done with the keyboard only (Tab, Shift+Tab, Enter, Space and
typing; no mouse click), on a phone's width (where the menu is collapsed) and on a wide screen.
Each job ends on a page that must pass the same checks as every main page (axe, overflow,
console and CSP errors)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from fleet import services as registry
from tests.browser.harness import ConsolePage, assert_clean

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cluster(kube, mcp_url, operator, settings):
    """Two MCP servers on the Kubernetes fake, registered through the registry's service layer."""
    # The dashboard's table refreshes itself; a swap while tabbing through it would move the focus.
    settings.FLEET_DASHBOARD_REFRESH_SECONDS = 600
    registry.save_account(
        actor=operator,
        source="ui",
        spec={
            "name": "prod-k8s",
            "provider": "kubernetes",
            "endpoint": kube.endpoint,
            "namespace": "mcp",
        },
    )
    for name, team in (("weather", "tools"), ("files", "platform")):
        registry.save_service(
            actor=operator,
            source="ui",
            spec={
                "name": name,
                "url": mcp_url,
                "account": "prod-k8s",
                "resource": f"mcp-{name}",
                "team": team,
                "environment": "production",
            },
        )


def press_enter_and_wait(console: ConsolePage, url: re.Pattern) -> None:
    console.page.keyboard.press("Enter")
    # Tasks run eagerly in the live server: a fleet audit answers when it has finished.
    expect(console.page).to_have_url(url, timeout=30_000)
    console.page.wait_for_load_state("load")


def go_by_menu(console: ConsolePage, link: str) -> None:
    """Follow a link of the main menu, opening the menu first where it is collapsed."""
    page = console.page
    toggle = page.locator("header .menu > summary")
    if toggle.is_visible():
        console.tab_to(toggle)
        page.keyboard.press("Space")
        expect(page.locator("header .menu")).to_have_attribute("open", "")
    target = page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True)
    console.tab_to(target)
    assert console.focused_is_visible(), f"the focused '{link}' link shows no focus ring"
    target_href = target.get_attribute("href")
    press_enter_and_wait(console, re.compile(re.escape(target_href) + "$"))


def test_browse_the_fleet_and_open_a_service(operator_page, cluster):
    page = operator_page.page
    operator_page.goto("/")

    # The first Tab reaches the skip link; Enter moves on to the page's own content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert operator_page.focused_is_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))

    weather = page.locator("table.services").get_by_role("link", name="weather", exact=True)
    operator_page.tab_to(weather)
    assert operator_page.focused_is_visible()
    press_enter_and_wait(operator_page, re.compile(r"/services/weather/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("weather")
    assert_clean([operator_page.check("Keyboard: service opened from the fleet")])


def test_run_a_checklist_audit_and_read_the_scorecard(operator_page, cluster):
    page = operator_page.page
    operator_page.goto("/")
    go_by_menu(operator_page, "Audits")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit scorecard")

    operator_page.tab_to(page.get_by_role("button", name="Run audit"))
    press_enter_and_wait(operator_page, re.compile(r"/audits/runs/\d+/$"))
    expect(page.locator("#run-status")).to_contain_text("Score")

    go_by_menu(operator_page, "Audits")
    summary = page.locator("section.audit-summary")
    expect(summary).to_contain_text("Fleet score")
    expect(page.locator("table.audit-matrix")).to_contain_text("weather")
    assert_clean([operator_page.check("Keyboard: scorecard after an audit")])


def test_set_a_budget_alert(operator_page, cluster):
    page = operator_page.page
    operator_page.goto("/")
    go_by_menu(operator_page, "Budgets")
    operator_page.tab_to(page.get_by_role("link", name="New budget"))
    press_enter_and_wait(operator_page, re.compile(r"/budgets/new/$"))

    def type_into(label: str, text: str) -> None:
        field = page.get_by_label(re.compile(rf"^{label}:?$"))
        operator_page.tab_to(field)
        page.keyboard.press("Control+A")
        page.keyboard.type(text)

    type_into("Name", "tools-monthly")
    type_into("Scope", "Team")  # a focused select picks the option whose label is typed
    expect(page.get_by_label(re.compile("^Scope:?$"))).to_have_value("team")
    type_into("Scope value", "tools")
    type_into("Monthly amount", "250")
    type_into("Thresholds", "50, 90, forecast:100")
    operator_page.tab_to(page.get_by_role("button", name="Save budget"))
    press_enter_and_wait(operator_page, re.compile(r"/budgets/\d+/$"))

    thresholds = page.locator("section", has=page.get_by_role("heading", name="Alert thresholds"))
    expect(thresholds).to_contain_text("50% of actual spend")
    expect(thresholds).to_contain_text("100% of forecast spend")
    assert_clean([operator_page.check("Keyboard: budget alert set")])


def test_redeploy_a_service_in_one_click_and_see_it_finish(operator_page, cluster, kube):
    page = operator_page.page
    operator_page.goto("/")
    operator_page.tab_to(page.get_by_role("link", name="Redeploy weather", exact=True))
    press_enter_and_wait(operator_page, re.compile(r"/services/weather/redeploy/$"))

    operator_page.tab_to(page.get_by_role("button", name="Redeploy weather on Kubernetes"))
    press_enter_and_wait(operator_page, re.compile(r"/redeploys/\d+/$"))
    status = page.locator("#redeploy-status")
    expect(status).to_contain_text("Succeeded")
    expect(status).to_contain_text("Healthy")
    patches = kube.requests_to("PATCH", "/deployments/mcp-weather")
    assert len(patches) == 1  # the rollout restart, through the Kubernetes API
    assert_clean([operator_page.check("Keyboard: redeploy finished")])
