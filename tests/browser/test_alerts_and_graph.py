"""In the browser, at a phone's width and a wide screen's: pointing at (or tabbing to) an MCP
server on the dependency graph lights up its blast radius, selecting it lists it; an operator
acknowledges an alert group, sees who and when, and withdraws it again. Both pages pass the harness's checks (axe,
overflow, console errors, CSP) and leave screenshots."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.state import record_state_change
from tests.browser.harness import assert_clean
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chain():
    """notes <- router <- planner (a chain), search <- router; chat calls nothing. notes goes down."""
    notes = ServiceFactory(name="notes", team="search")
    search = ServiceFactory(name="search", status="needs_auth")
    router = ServiceFactory(name="router", kind="agent_backend", status="up")
    planner = ServiceFactory(name="planner", kind="agent_backend", status="up")
    ServiceFactory(name="chat", kind="agent_backend", status="up")
    router.dependencies.add(notes, search)
    planner.dependencies.add(router)
    now = timezone.now()
    record_state_change(notes, "unknown", "down", "3 failed checks", at=now, live={})
    return notes


def node(page, name: str):
    return page.locator(f'svg.dependency-graph a.node[data-name="{name}"]')


def test_blast_radius_on_the_graph_and_acknowledging_an_alert_group(operator_page, chain):
    page = operator_page.page
    operator_page.goto("/dependencies/")
    # pointing at notes lights router and planner (through router), not chat
    node(page, "notes").hover()
    expect(node(page, "router")).to_have_class(re.compile(r"\bhover-radius\b"))
    expect(node(page, "planner")).to_have_class(re.compile(r"\bhover-radius\b"))
    expect(node(page, "chat")).not_to_have_class(re.compile(r"\bhover-radius\b"))
    expect(page.locator("#graph-hover")).to_have_text("notes: 2 services depend on it.")
    # the keyboard does the same: Tab to search, and Enter selects it (a plain link)
    page.mouse.move(0, 0)
    operator_page.tab_to(node(page, "search"))
    expect(node(page, "router")).to_have_class(re.compile(r"\bhover-radius\b"))
    expect(node(page, "chat")).not_to_have_class(re.compile(r"\bhover-radius\b"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"\?selected=search#selection$"))
    expect(node(page, "search")).to_have_class(re.compile(r"\bselected\b"))
    selection = page.locator("#selection")
    expect(selection).to_contain_text("Blast radius of search")
    expect(selection).to_contain_text("2 services depend on it")
    expect(selection.locator("a", has_text="planner")).to_have_attribute(
        "href", "/services/planner/"
    )
    graph = operator_page.check("Dependencies, search selected")

    # the operator acknowledges the "notes is DOWN" group with a note
    operator_page.goto("/alerts/")
    row = page.locator("tr.alert-group", has_text="notes is DOWN")
    expect(row).not_to_have_class(re.compile(r"\backnowledged\b"))
    row.get_by_label("Note for the whole group").fill("Failing over the database")
    row.get_by_role("button", name="Acknowledge", exact=True).click()
    row = page.locator("tr.alert-group", has_text="notes is DOWN")
    expect(row).to_have_class(re.compile(r"\backnowledged\b"))
    expect(row.locator(".ack-by")).to_have_text("otto")
    expect(row).to_contain_text("Failing over the database")
    stamp = row.locator(".ack-by + time")  # when, in the browser's zone (Europe/Berlin)
    expect(stamp).to_have_text(re.compile(r"\d{1,2} \w{3}, \d{2}:\d{2} CE(S)?T"))
    page.get_by_role("link", name="acknowledged", exact=True).click()
    expect(page.locator("tr.alert-group")).to_have_count(1)
    alerts = operator_page.check("Alerts, a group acknowledged")
    # acknowledged by mistake: the operator withdraws it (confirming) and the group waits again
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Withdraw acknowledgement").click()
    row = page.locator("tr.alert-group", has_text="notes is DOWN")
    expect(row).not_to_have_class(re.compile(r"\backnowledged\b"))
    expect(row).to_contain_text("not acknowledged")
    assert_clean([graph, alerts])
