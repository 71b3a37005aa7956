"""The dashboard in the browser, at a phone's width and a wide screen's: pasting into search filters
the table, a tag chip narrows it, the sort survives both, and a saved view reopens all of it. The
pages pass the harness's checks (axe, overflow, console errors, CSP) and leave screenshots."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.harness import assert_clean
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def services():
    ServiceFactory(name="files", team="platform", status="up", last_latency_ms=10)
    ServiceFactory(name="notes", team="platform", tags=["pci"], status="up", last_latency_ms=40)
    ServiceFactory(name="search", team="platform", tags=["pci", "eu"], status="down",
                   last_latency_ms=400)  # fmt: skip
    ServiceFactory(name="chat", team="research", tags=["eu"], status="up", last_latency_ms=5)


def names(page) -> list[str]:
    return page.locator("table.services tbody tr td:first-child a").all_inner_texts()


def test_paste_search_tag_sort_and_a_saved_view(viewer_page, services):
    page = viewer_page.page
    viewer_page.goto("/")
    expect(page.locator("table.services tbody tr")).to_have_count(4)

    # Sort by latency (a column header, through htmx).
    page.locator("table.services thead a", has_text="Latency").click()
    expect(page).to_have_url(re.compile(r"sort=latency"))
    expect(page.locator("table.services tbody tr").first).to_contain_text("chat")

    # Paste into search as the context menu (or a drop) does: the text arrives as one input
    # event with no key pressed (insert_text fires no keydown/keyup), so a keyup trigger misses it.
    page.locator("input[name=q]").focus()
    page.keyboard.insert_text("platform")
    expect(page).to_have_url(re.compile(r"q=platform"))
    expect(page.locator("table.services tbody tr")).to_have_count(3)
    assert names(page) == ["files", "notes", "search"]  # still by latency
    assert "sort=latency" in page.url
    expect(page.locator("#fleet-totals")).to_contain_text("3 services")

    # Choose a tag: only services carrying it, sort and search kept, totals follow.
    page.locator("label.chip", has_text="pci").click()
    expect(page.locator("table.services tbody tr")).to_have_count(2)
    assert names(page) == ["notes", "search"]
    assert re.search(r"tag=pci", page.url) and "sort=latency" in page.url
    expect(page.locator("#fleet-totals")).to_contain_text("2 services")
    expect(page.locator("#fleet-totals")).to_contain_text("1 down")

    # Sorting again keeps the filters, and the next filter change keeps that sort.
    page.locator("table.services thead a", has_text="Latency").click()
    expect(page).to_have_url(re.compile(r"sort=-latency"))
    expect(page.locator("table.services tbody tr").first).to_contain_text("search")
    assert "tag=pci" in page.url and "q=platform" in page.url
    page.select_option("select[name=status]", "up")
    expect(page.locator("table.services tbody tr")).to_have_count(1)
    assert "sort=-latency" in page.url

    page.select_option("select[name=status]", "")
    expect(page.locator("table.services tbody tr")).to_have_count(2)
    assert_clean([viewer_page.check("Dashboard filtered by paste and tag")])

    # Save the view, leave, and reopen it from the saved views.
    page.fill("form.save-view input[name=name]", "platform pci")
    page.locator("form.save-view button", has_text="Save view").click()
    expect(page.locator(".messages")).to_contain_text("Saved the view “platform pci”.")
    viewer_page.goto("/")
    expect(page.locator("table.services tbody tr")).to_have_count(4)
    page.locator("details.saved-views summary").click()
    page.locator("details.saved-views a", has_text="platform pci").click()
    expect(page.locator("table.services tbody tr")).to_have_count(2)
    assert names(page) == ["search", "notes"]  # -latency, reopened
    expect(page.locator("input[name=q]")).to_have_value("platform")
    expect(page.locator("label.chip", has_text="pci").locator("input")).to_be_checked()
    assert_clean([viewer_page.check("Dashboard reopened from a saved view")])
    assert_clean([viewer_page.visit("Saved views", "/views/")])
