"""Jobs started from a page (apply scaling, refresh from cloud, spend refresh, fleet import) lead to
the job's page, which follows the job in place (htmx polling, 286 when done) and links back to
where it was started; the origin is a local path only, never an open redirect."""

from __future__ import annotations

from html import unescape

import pytest
from django.utils import timezone

from console.models import Job
from fleet.operations.models import ServiceScaling
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud_service():
    account = CloudAccountFactory(name="prod-gcp", provider="gcp", region="europe-west1")
    return ServiceFactory(name="weather", account=account, resource="weather")


def follow_to_job_page(client, response) -> str:
    assert response.status_code == 302, response.content[:300]
    location = response["Location"]
    assert location.startswith("/jobs/"), location
    return unescape(client.get(location).content.decode())


def test_refresh_from_cloud_links_back_to_the_service(operator_client, cloud_service):
    response = operator_client.post("/services/weather/cloud/refresh/")
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F"
    page = follow_to_job_page(operator_client, response)
    assert '<a href="/services/weather/">← Back to weather</a>' in page


def test_apply_scaling_links_back_to_the_service(operator_client, cloud_service):
    ServiceScaling.objects.create(
        service=cloud_service, observed_max_instances=3, desired_max_instances=5
    )
    page = follow_to_job_page(
        operator_client, operator_client.post("/services/weather/scaling/apply/")
    )
    assert "Apply scaling to weather" in page
    assert '<a href="/services/weather/">← Back to weather</a>' in page


def test_spend_refresh_links_back_to_budgets(operator_client):
    page = follow_to_job_page(operator_client, operator_client.post("/budgets/ingest/"))
    assert '<a href="/budgets/">← Back to budgets</a>' in page


def test_fleet_import_links_back_to_the_fleet_file_page(operator_client):
    text = "services:\n  - name: notes\n    url: https://notes.example.com/mcp\n"
    response = operator_client.post("/fleet-file/", {"text": text, "action": "import"})
    page = follow_to_job_page(operator_client, response)
    assert '<a href="/fleet-file/">← Back to the fleet file</a>' in page


@pytest.fixture
def job(operator):
    return Job.objects.create(name="fleet import", requested_by=operator)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example/",
        "//evil.example/services/x/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http:/services/x/",
        "javascript:alert(1)",
        "/services/x/\r\nSet-Cookie: a=b",
        "/services/x/ ",
        "/services/x/#frag",
        "/no-such-page/",
        "services/x/",
        "/" + "a" * 600,
    ],
)
def test_the_origin_must_be_a_local_page_of_the_console(viewer_client, job, origin):
    response = viewer_client.get(f"/jobs/{job.pk}/", {"from": origin})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Back to" not in html
    assert "evil.example" not in html


def test_a_local_origin_with_its_query_is_kept(viewer_client, job):
    html = viewer_client.get(f"/jobs/{job.pk}/", {"from": "/?team=platform&sort=-latency"})
    assert '<a href="/?team=platform&amp;sort=-latency">← Back to the fleet</a>' in (
        html.content.decode()
    )


def test_the_job_page_polls_in_place_and_stops_when_done(viewer_client, job, htmx_headers):
    running = viewer_client.get(f"/jobs/{job.pk}/?from=/budgets/", **htmx_headers)
    body = running.content.decode()
    assert running.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="job-status"')
    assert 'hx-trigger="every 1s"' in body and "Back to" not in body
    assert "Waiting for a worker" in body

    Job.objects.filter(pk=job.pk).update(status="succeeded")
    done = viewer_client.get(f"/jobs/{job.pk}/", **htmx_headers)
    assert done.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in done.content.decode()
    assert '<span class="badge status-succeeded">succeeded</span>' in done.content.decode()


# -- in place on the service page (htmx) ---------------------------------------------------------
def test_refresh_from_cloud_shows_its_progress_in_place(
    operator_client, cloud_service, htmx_headers
):
    response = operator_client.post("/services/weather/cloud/refresh/", **htmx_headers)
    job = Job.objects.get()
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="job-status"')
    # It polls its job row, remembering the service page.
    assert f'hx-get="/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F" hx-trigger="every 1s"' in html
    assert "Waiting for a worker" in html

    Job.objects.filter(pk=job.pk).update(status="succeeded")
    done = operator_client.get(
        f"/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F",
        HTTP_HX_CURRENT_URL="http://testserver/services/weather/",
        **htmx_headers,
    )
    assert done.status_code == 286
    assert '<a class="button" href="/services/weather/">Show weather as it is now</a>' in (
        done.content.decode()
    )


def test_a_refused_apply_says_why_in_place(operator_client, cloud_service, htmx_headers):
    response = operator_client.post("/services/weather/scaling/apply/", **htmx_headers)
    assert response.status_code == 200
    assert response.content.decode() == (
        '<p class="error" role="alert">Set desired scaling first: there is nothing to apply.</p>'
    )
    assert not Job.objects.exists()


def test_on_the_job_page_itself_there_is_no_show_link(operator_client, job, htmx_headers):
    Job.objects.filter(pk=job.pk).update(status="succeeded")
    done = operator_client.get(
        f"/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F",
        HTTP_HX_CURRENT_URL=f"http://testserver/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F",
        **htmx_headers,
    )
    assert done.status_code == 286 and "as it is now" not in done.content.decode()


def test_the_service_page_posts_cloud_jobs_in_place(operator_client, cloud_service):
    ServiceScaling.objects.create(
        service=cloud_service,
        observed_max_instances=3,
        desired_max_instances=5,
        observed_at=timezone.now(),
    )
    html = operator_client.get("/services/weather/").content.decode()
    assert 'hx-post="/services/weather/cloud/refresh/" hx-target="#cloud-job"' in html
    assert 'hx-post="/services/weather/scaling/apply/" hx-target="#scaling-job"' in html
    assert '<div id="cloud-job" aria-live="polite"></div>' in html
