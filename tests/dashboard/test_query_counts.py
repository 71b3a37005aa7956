"""The dashboard's query count stays flat as the fleet and the saved views grow."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.saved_views.models import SavedView
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db

QUERY = "/?team=platform&tag=pci&sort=-latency"


def queries(client, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(QUERY, **headers).status_code == 200
    return len(captured)


def grow(viewer, operator, n_services: int, n_views: int) -> None:
    account = CloudAccountFactory(name="prod-gcp")
    ServiceFactory.create_batch(n_services, account=account, tags=["pci", "eu"])
    start = SavedView.objects.count()
    SavedView.objects.bulk_create(
        [SavedView(owner=viewer, name=f"mine {start + i}", query="tag=pci") for i in range(n_views)]
        + [
            SavedView(owner=operator, name=f"shared {start + i}", query="", shared=True)
            for i in range(n_views)
        ]
    )


def test_full_page_and_fragment_queries_do_not_grow(viewer_client, viewer, operator, htmx_headers):
    grow(viewer, operator, n_services=3, n_views=1)
    small = (queries(viewer_client), queries(viewer_client, **htmx_headers))
    grow(viewer, operator, n_services=80, n_views=20)
    large = (queries(viewer_client), queries(viewer_client, **htmx_headers))
    assert small == large
    page, fragment = large
    print(f"dashboard queries: page {page}, fragment {fragment}")
    assert page <= 14, page
    # The fragment reads no form choices and no saved views.
    assert fragment <= page - 4, (page, fragment)
