"""Times on the service page, the job page and the dashboard read in the viewer's time zone (the
browser's `tz` cookie), with the zone named; never a local time labelled UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checks.models import Incident
from console.models import Job
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOON_UTC = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
def berlin(viewer_client):
    viewer_client.cookies["tz"] = "Europe/Berlin"
    return viewer_client


def test_incidents_on_the_service_page_are_in_the_viewers_zone(berlin):
    service = ServiceFactory(name="notes")
    Incident.objects.create(service=service, status="down", opened_at=NOON_UTC)
    html = berlin.get("/services/notes/").content.decode()
    assert "30 Nov 2026, 13:00 CET" in html
    assert "12:00 UTC" not in html


def test_job_times_are_in_the_viewers_zone(berlin, operator):
    job = Job.objects.create(
        name="fleet import", requested_by=operator, started_at=NOON_UTC, finished_at=NOON_UTC,
        status="succeeded",
    )  # fmt: skip
    html = berlin.get(f"/jobs/{job.pk}/").content.decode()
    assert 'started <time datetime="2026-11-30T12:00:05+00:00">13:00:05 CET</time>' in html


def test_the_dashboard_shows_the_exact_check_time_in_the_viewers_zone(berlin):
    ServiceFactory(name="notes", last_checked_at=NOON_UTC)
    html = berlin.get("/").content.decode()
    assert 'title="30 Nov 2026, 13:00:05 CET"' in html
