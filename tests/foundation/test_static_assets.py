"""The favicon and the API docs' assets come from the console's own static files (no CDN)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_favicon_ico_is_public_and_leads_to_the_static_icon():
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/console/favicon.ico"


def test_every_page_names_its_icon(viewer_client):
    html = viewer_client.get("/").content.decode()
    assert 'rel="icon" href="/static/console/favicon.svg"' in html


def test_api_docs_load_swagger_ui_from_static_files_not_a_cdn(viewer_client):
    html = viewer_client.get("/api/v1/docs").content.decode()
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in html
    assert '<script src="/static/ninja/swagger-ui-init.js">' in html
    assert "cdn" not in html.lower()
    assert "<script>" not in html  # no inline script: the CSP would refuse it
    assert 'id="swagger-settings"' in html and '"deepLinking": false' in html
