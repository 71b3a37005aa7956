"""The dependency page: SVG graph with status words, no-JS selection, bounded queries."""

from __future__ import annotations

import re

import pytest

from fleet.models import Dependency, Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    notes = ServiceFactory(name="notes", status="down")
    search = ServiceFactory(name="search", status="needs_auth")
    router = ServiceFactory(name="router", kind="agent_backend", status="up")
    planner = ServiceFactory(name="planner", kind="agent_backend")
    router.dependencies.add(notes, search)
    planner.dependencies.add(router)
    return notes


def test_the_graph_is_server_side_svg_with_words_beside_colours(viewer_client, chain):
    html = viewer_client.get("/dependencies/").content.decode()
    assert "<svg" in html and 'class="dependency-graph"' in html
    assert html.count('class="node ') == 4 and html.count('<path class="edge') == 3
    assert "MCP server · down" in html and "MCP server · needs credentials" in html
    assert "needs_auth ·" not in html and ">needs_auth<" not in html
    # CSP: no inline script or style, the highlighting script is a static file
    assert "<style" not in html and " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "/static/console/dependency-graph.js" in html
    # every node is a link (keyboard-focusable) to its selection, named by its visible text
    assert 'href="?selected=notes#selection"' in html
    assert '<text x="14" y="18" class="name">notes</text>' in html


def test_selecting_a_server_lists_and_marks_its_transitive_blast_radius(viewer_client, chain):
    html = viewer_client.get("/dependencies/?selected=notes").content.decode()
    assert "has-selection" in html
    assert re.search(r'class="node kind-mcp_server status-down selected"', html)
    assert html.count(" in-radius") == 2  # router directly, planner through router
    section = html[html.index('id="selection"') :]
    assert 'Blast radius of <a href="/services/notes/">notes</a>' in section
    assert "2 services depend on it" in section
    assert '<a href="/services/planner/">planner</a>' in section
    assert '<a href="/services/router/">router</a>' in section
    assert html.count('class="edge lit"') == 2  # planner -> router -> notes


def test_an_unknown_selection_is_no_selection(viewer_client, chain):
    html = viewer_client.get("/dependencies/?selected=nope").content.decode()
    assert "has-selection" not in html and "Select a service" in html


def test_the_page_reads_the_fleet_in_a_fixed_number_of_queries(
    viewer_client, django_assert_max_num_queries
):
    servers = Service.objects.bulk_create(
        [Service(name=f"mcp-{i:03d}", url="https://x.example.com/mcp") for i in range(60)]
    )
    agents = Service.objects.bulk_create(
        [
            Service(name=f"agent-{i:03d}", kind="agent_backend", url="https://a.example.com")
            for i in range(40)
        ]
    )
    Dependency.objects.bulk_create(
        [
            Dependency(caller=a, callee=servers[(i * 7 + k) % 60])
            for i, a in enumerate(agents)
            for k in range(3)
        ]
        + [Dependency(caller=agents[i], callee=agents[i - 1]) for i in range(1, 40, 2)]
    )
    with django_assert_max_num_queries(6):
        response = viewer_client.get("/dependencies/?selected=mcp-007")
    assert response.status_code == 200
    assert response.content.decode().count('class="node ') == 100
