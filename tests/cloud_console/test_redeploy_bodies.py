"""A redeploy whose post-deploy check meets a hostile answer: viewers read the status, content type
and size on the redeploy pages and the job log, never the body."""

from __future__ import annotations

import pytest

from console.models import Job
from fleet.models import Service
from fleet.operations import services as cs
from tests.mcp_servers.misbehaving import status_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db

MARKER = "INTERNAL-ONLY-RELEASE-PAGE"


def test_redeploy_pages_and_job_log_name_the_answer_not_its_body(
    kubernetes, operator, viewer_client, django_capture_on_commit_callbacks
):
    body = f"<html><title>{MARKER} Bearer abcdefghijklmnop</title></html>".encode()
    with served(status_app(503, body, "text/html")) as base:
        Service.objects.filter(pk=kubernetes.service.pk).update(url=f"{base}/mcp")
        kubernetes.service.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            redeploy, _ = cs.request_redeploy(kubernetes.service, operator)
    redeploy.refresh_from_db()

    assert redeploy.status == "failed" and "HTTP 503" in redeploy.error
    assert "text/html" in redeploy.error and MARKER not in redeploy.error
    pages = [
        viewer_client.get(f"/redeploys/{redeploy.pk}/").content.decode(),
        viewer_client.get("/redeploys/").content.decode(),
        *[viewer_client.get(f"/jobs/{job.pk}/").content.decode() for job in Job.objects.all()],
        *[job.log + job.error for job in Job.objects.all()],
    ]
    assert all(MARKER not in page for page in pages)
    assert "HTTP 503" in pages[0]
