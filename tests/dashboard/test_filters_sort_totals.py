"""The dashboard keeps its state together: filters keep the sort, sort and pages keep the filters,
and the totals strip counts what the filters match (updated out of band with the table)."""

from __future__ import annotations

import re

import pytest

from console.tokens import issue_token
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    gcp = CloudAccountFactory(name="prod-gcp", provider="gcp", region="europe-west1")
    ServiceFactory(
        name="notes",
        account=gcp,
        team="platform",
        tags=["notes", "pci"],
        status="up",
        last_latency_ms=42,
    )
    ServiceFactory(
        name="search",
        team="research",
        environment="staging",
        status="down",
        tags=["pci"],
        last_latency_ms=300,
    )
    ServiceFactory(name="chatbot", kind="agent_backend", team="platform", status="needs_auth")


def names_in(html: str) -> list[str]:
    found = [n for n in ("notes", "search", "chatbot") if f">{n}</a>" in html]
    return sorted(found, key=lambda n: html.index(f">{n}</a>"))


def totals_of(html: str) -> str:
    match = re.search(r'<section class="totals" id="fleet-totals".*?</section>', html, re.S)
    assert match, "no totals strip"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


def test_the_filter_form_carries_the_current_sort(viewer_client, fleet):
    html = viewer_client.get("/?sort=-latency&team=platform").content.decode()
    assert '<input type="hidden" id="sort-field" name="sort" value="-latency">' in html


def test_sorting_by_htmx_updates_the_forms_sort_out_of_band(viewer_client, fleet, htmx_headers):
    """A click on a column header swaps only the table: the form's sort must follow, or the next
    filter change would drop the sort."""
    response = viewer_client.get("/?team=platform&sort=-latency", **htmx_headers)
    html = response.content.decode()
    assert (
        '<input type="hidden" id="sort-field" name="sort" value="-latency" hx-swap-oob="true">'
        in html
    )
    assert names_in(html) == ["notes", "chatbot"]  # -latency: 42 ms, then no latency (last)
    assert "<html" not in html and 'id="fleet-filters"' not in html


def test_sort_links_keep_the_filters_and_drop_the_page(viewer_client, fleet):
    html = viewer_client.get("/?team=platform&tag=pci&page=1").content.decode()
    assert 'href="?team=platform&amp;tag=pci&amp;sort=latency"' in html


def test_pages_keep_the_filters_and_the_sort(viewer_client, settings):
    settings.FLEET_DASHBOARD_PAGE_SIZE = 2
    for i in range(5):
        ServiceFactory(name=f"s{i}", team="platform", last_latency_ms=i)
    html = viewer_client.get("/?team=platform&sort=-latency&page=2").content.decode()
    assert "Page 2 of 3" in html
    assert 'href="?team=platform&amp;sort=-latency&amp;page=3"' in html
    assert names_in(html) == [] and ">s2</a>" in html and ">s1</a>" in html


def test_totals_count_what_the_filters_match(viewer_client, fleet):
    everything = totals_of(viewer_client.get("/").content.decode())
    assert "3 services" in everything and "1 up" in everything and "1 down" in everything
    assert "1 needs credentials" in everything

    research = totals_of(viewer_client.get("/?team=research").content.decode())
    assert "1 service " in research
    assert "0 up" in research and "1 down" in research and "1 staging" in research
    assert "production" not in research


def test_totals_come_with_the_table_on_htmx_requests(viewer_client, fleet, htmx_headers):
    html = viewer_client.get("/?tag=pci", **htmx_headers).content.decode()
    assert html.lstrip().startswith('<div id="fleet-table"')
    assert 'id="fleet-totals" aria-label="Totals of the services shown" hx-swap-oob="true"' in html
    assert "2 services" in totals_of(html)


def test_totals_links_add_their_filter_and_keep_the_rest(viewer_client, fleet):
    html = viewer_client.get("/?team=platform&sort=-latency").content.decode()
    assert 'href="?team=platform&amp;sort=-latency&amp;status=up"' in html
    # The chosen one clears itself (a toggle), keeping the rest.
    chosen = viewer_client.get("/?team=platform&status=up&sort=name").content.decode()
    assert 'href="?team=platform&amp;sort=name" hx-get="?team=platform&amp;sort=name"' in chosen
    assert 'aria-current="true"' in chosen


def test_tag_chips_filter_and_combine(viewer_client, fleet):
    assert names_in(viewer_client.get("/?tag=pci").content.decode()) == ["notes", "search"]
    html = viewer_client.get("/?tag=pci&tag=notes").content.decode()
    assert names_in(html) == ["notes"]  # every chosen tag
    assert '<input type="checkbox" name="tag" value="notes" checked>' in html
    assert '<input type="checkbox" name="tag" value="pci" checked>' in html


def test_the_tag_control_works_without_javascript(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()
    start = html.index('id="fleet-filters"')
    form = html[start : html.index("</form>", start)]
    assert 'method="get"' in html[html.index('<form class="filters"') :][:200]
    assert '<input type="checkbox" name="tag" value="notes">' in form
    assert '<input type="checkbox" name="tag" value="pci">' in form
    assert '<noscript><button type="submit">Filter</button></noscript>' in form


def test_a_chosen_tag_no_service_carries_stays_visible_and_chosen(viewer_client, fleet):
    html = viewer_client.get("/?tag=retired").content.decode()
    assert '<input type="checkbox" name="tag" value="retired" checked>' in html
    assert "No services match" in html


def test_an_invalid_tag_is_named_not_silently_empty(viewer_client, fleet):
    response = viewer_client.get("/?tag=bad%20tag")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert">tag: Invalid tag' in html


def test_the_api_still_takes_one_tag(client, viewer, fleet):
    _, raw = issue_token(viewer, "t")
    response = client.get("/api/v1/services?tag=notes", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert [s["name"] for s in response.json()["items"]] == ["notes"]


def test_search_listens_for_typing_pasting_and_clearing(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()
    trigger = re.search(r'<form class="filters"[^>]*hx-trigger="([^"]+)"', html, re.S).group(1)
    # `input` fires for keys, paste (keyboard or menu) and drops; `search` for the clear button.
    assert "input changed delay:300ms from:input[name=q]" in trigger
    assert "search from:input[name=q]" in trigger


def test_statuses_read_as_words(viewer_client, fleet):
    html = viewer_client.get("/").content.decode()
    assert '<span class="badge status-needs_auth">needs credentials</span>' in html
    assert ">needs_auth<" not in html
