"""Long service pages open with an index of their sections: anchor links to each card."""

from __future__ import annotations

import re

import pytest

from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def index_of(html: str) -> list[str]:
    nav = re.search(r'<nav class="section-index".*?</nav>', html, re.S).group(0)
    return re.findall(r'href="#([\w-]+)"', nav)


def test_every_link_of_the_index_lands_on_a_card(viewer_client):
    account = CloudAccountFactory(name="prod-gcp", provider="gcp")
    ServiceFactory(name="weather", account=account, resource="weather")
    html = viewer_client.get("/services/weather/").content.decode()
    anchors = index_of(html)
    assert anchors == [
        "registry", "dependencies", "health-panel", "service-cloud", "service-audit",
        "service-budget", "recent-changes",
    ]  # fmt: skip
    for anchor in anchors:
        assert re.search(rf'<section class="card[^"]*" id="{anchor}"', html), anchor


def test_a_plain_url_service_has_no_cloud_entry(viewer_client):
    ServiceFactory(name="notes")
    html = viewer_client.get("/services/notes/").content.decode()
    assert "service-cloud" not in index_of(html)
    assert 'id="service-cloud"' not in html
