"""The layout without JavaScript: the menu is a disclosure on a phone and always shown on a wide
screen, and keyboard users reach every link either way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_menu_works_from_the_keyboard_without_javascript(open_page, operator, width):
    console = open_page(operator, width, javascript=False)
    page = console.page
    console.goto("/")
    toggle = page.locator("header .menu > summary")
    audits = page.get_by_role("navigation", name="Main").get_by_role("link", name="Audits")
    if width < 1000:
        expect(audits).to_be_hidden()  # collapsed: out of sight and out of the tab order
        console.tab_to(toggle, max_presses=5)
        assert console.focused_is_visible()
        page.keyboard.press("Space")
        expect(audits).to_be_visible()
    else:
        expect(toggle).to_be_hidden()
        expect(audits).to_be_visible()
    console.tab_to(audits, max_presses=20)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/audits/$"))
    assert console.take_problems() == []
