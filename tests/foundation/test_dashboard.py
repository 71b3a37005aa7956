"""The dashboard: totals, filters and sort in the URL, an htmx fragment, constant query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    gcp = CloudAccountFactory(name="prod-gcp", provider="gcp", region="europe-west1")
    aws = CloudAccountFactory(
        name="prod-aws", provider="aws", project="", region="us-east-1", cluster="mcp"
    )
    ServiceFactory(
        name="notes", account=gcp, team="platform", tags=["notes"], status="up", last_latency_ms=42
    )
    ServiceFactory(
        name="search", account=aws, team="research", environment="staging", status="down"
    )
    ServiceFactory(
        name="chatbot", kind="agent_backend", team="platform", url="https://chat.example.com"
    )


def names_in(response) -> list[str]:
    html = response.content.decode()
    found = [n for n in ("notes", "search", "chatbot") if f">{n}</a>" in html]
    return sorted(found, key=lambda n: html.index(f">{n}</a>"))


def test_dashboard_shows_every_service_with_status_unknown_until_checked(viewer_client, fleet):
    response = viewer_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert names_in(response) == ["chatbot", "notes", "search"]
    assert 'class="badge status-unknown">unknown' in html
    assert "<b>3</b> services" in html
    assert "Google Cloud Run" in html and "europe-west1" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=down", ["search"]),
        ("?cloud=gcp", ["notes"]),
        ("?cloud=url", ["chatbot"]),
        ("?environment=staging", ["search"]),
        ("?team=platform", ["chatbot", "notes"]),
        ("?kind=agent_backend", ["chatbot"]),
        ("?q=sea", ["search"]),
        ("?tag=notes", ["notes"]),
    ],
)
def test_filters_live_in_the_url(viewer_client, fleet, query, expected):
    assert names_in(viewer_client.get("/" + query)) == expected


def test_sort_by_latency_descending(viewer_client, fleet):
    html = viewer_client.get("/?sort=-latency").content.decode()
    assert html.index(">notes</a>") < html.index(">search</a>")


def test_htmx_refresh_returns_only_the_table(viewer_client, fleet, htmx_headers):
    response = viewer_client.get("/?team=platform", **htmx_headers)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="fleet-table"')
    assert "<html" not in html
    assert names_in(response) == ["chatbot", "notes"]
    assert "HX-Request" in response["Vary"]


def test_table_polls_with_the_current_filters(viewer_client, fleet):
    html = viewer_client.get("/?team=platform").content.decode()
    assert 'hx-get="/?team=platform"' in html and 'hx-trigger="every 10s"' in html


def test_pagination_keeps_filters(viewer_client, settings):
    settings.FLEET_DASHBOARD_PAGE_SIZE = 2
    for i in range(5):
        ServiceFactory(name=f"s{i}", team="platform")
    html = viewer_client.get("/?team=platform&page=2").content.decode()
    assert "Page 2 of 3" in html and "?team=platform&amp;page=3" in html


def test_query_count_does_not_grow_with_the_fleet(viewer_client, htmx_headers):
    account = CloudAccountFactory(name="prod-gcp")

    def count(n_services: int) -> tuple[int, int]:
        ServiceFactory.create_batch(n_services, account=account)
        with CaptureQueriesContext(connection) as page:
            viewer_client.get("/")
        with CaptureQueriesContext(connection) as fragment:
            viewer_client.get("/", **htmx_headers)
        return len(page), len(fragment)

    small = count(5)
    large = count(120)
    assert small == large
    assert large[0] <= 15 and large[1] <= 15


def test_service_page_shows_the_blast_radius(viewer_client):
    notes = ServiceFactory(name="notes")
    router = ServiceFactory(name="router", kind="agent_backend")
    sub = ServiceFactory(name="sub-agent", kind="agent_backend")
    sub.dependencies.add(notes)
    router.dependencies.add(sub)
    html = viewer_client.get("/services/notes/").content.decode()
    assert "2 agent backends are affected" in html
    assert ">router</a>" in html and ">sub-agent</a>" in html


def test_dependencies_page_lists_dependents_per_mcp_server(viewer_client):
    notes = ServiceFactory(name="notes")
    chat = ServiceFactory(name="chat", kind="agent_backend")
    chat.dependencies.add(notes)
    html = viewer_client.get("/dependencies/").content.decode()
    assert ">notes</a>" in html and ">chat</a>" in html
