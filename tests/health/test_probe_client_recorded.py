"""Each recorded result says which client probed (the lean one or the httpx fallback), shown on
the service's page and in the API, against real servers: an SDK server over HTTP/1.1 and an
HTTP/2-only MCP server (tests/fakes/h2_mcp.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checks import sweep_db
from checks.models import CheckConfig
from tests.factories import ServiceFactory
from tests.fakes.h2_mcp import H2OnlyMcpServer
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
API = "/api/v1"


@pytest.fixture(scope="module")
def plain_mcp() -> Iterator[str]:
    with served(streamable_app(demo_server("plain", "1.0"), json_response=True)) as base:
        yield f"{base}/mcp"


def test_a_result_of_the_lean_client_says_so_on_the_page_and_in_the_api(viewer_client, plain_mcp):
    service = ServiceFactory(name="plain", url=plain_mcp)
    result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert result.client == "lean"
    page = viewer_client.get("/services/plain/").content.decode()
    assert "<dt>Probed with</dt><dd>the lean client (HTTP/1.1)</dd>" in page
    api = viewer_client.get(f"{API}/services/plain/health").json()
    assert api["latest"]["client"] == "lean"


def test_a_result_of_the_httpx_fallback_says_so_on_the_page(viewer_client):
    with H2OnlyMcpServer() as server:
        service = ServiceFactory(name="h2only", url=server.url)
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert result.client == "httpx"
    page = viewer_client.get("/services/h2only/").content.decode()
    assert "<dt>Probed with</dt><dd>httpx (the fallback)</dd>" in page


def test_a_check_that_never_reached_the_network_names_no_client(viewer_client):
    service = ServiceFactory(name="unset", url="https://unset.test/mcp")
    CheckConfig.objects.create(
        service=service, auth_header="X-Key", auth_secret_ref="env:FLEET_SECRET_NOPE"
    )
    result = sweep_db.check_now(service).result

    assert not result.ok and result.phase == "auth"
    assert result.client == ""
    assert "Probed with" not in viewer_client.get("/services/unset/").content.decode()


def test_the_sweep_records_the_client_in_bulk(plain_mcp):
    """The scheduled path (many services, one bulk insert) fills it too."""
    from checks.models import ProbeResult

    for i in range(3):
        ServiceFactory(name=f"bulk-{i}", url=plain_mcp)
    sweep_db.check_all()
    assert set(ProbeResult.objects.values_list("client", flat=True)) == {"lean"}
