"""The page frame every view shares: skip link, named landmarks, a menu that marks where you are."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_every_page_starts_with_a_skip_link_to_the_main_landmark(viewer_client):
    html = viewer_client.get("/incidents/").content.decode()
    assert html.index('<a class="skip-link" href="#main">') < html.index('<header class="topbar">')
    assert '<main id="main" tabindex="-1">' in html
    assert '<nav aria-label="Main">' in html
    assert '<html lang="en">' in html


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/", "/"),
        ("/audits/", "/audits/"),
        ("/audits/runs/", "/audits/"),
        ("/budgets/", "/budgets/"),
    ],
)
def test_the_menu_marks_the_section_being_viewed(viewer_client, path, current):
    html = viewer_client.get(path).content.decode()
    marked = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
    assert marked == [current]
