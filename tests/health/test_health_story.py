"""After "Check now" the health card tells one story: the badge, the since-time and the last result
come from the same state, and a failed check that has not made the service down says how close it
is, instead of a "down" badge beside "up since"."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    """Visible text, with "now" / "a second ago" / "3 seconds ago" read as "now" (no clock flakes)."""
    plain = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()
    return re.sub(r"\b(a second ago|\d+ seconds ago)", "now", plain)


def check_now(client, service, htmx_headers, capture) -> str:
    """Press "Check now" (htmx), let the job run, and return what its finished fragment answers."""
    with capture(execute=True):
        started = client.post(f"/services/{service.name}/check/", **htmx_headers)
    assert started.status_code == 200
    job_id = re.search(r"/check/(\d+)/", started.content.decode()).group(1)
    polled = client.get(f"/services/{service.name}/check/{job_id}/", **htmx_headers)
    assert polled.status_code == 286  # done: polling stops
    return polled.content.decode()


@pytest.fixture
def up_service(knob_server, knob):
    url, _ = knob_server
    service = ServiceFactory(name="notes", url=url)
    CheckConfig.objects.create(service=service, failure_threshold=3, recovery_threshold=2)
    sweep_db.check_now(service, at=timezone.now() - timedelta(hours=2))
    service.refresh_from_db()
    assert service.status == "up"
    return service


def test_a_failed_check_below_the_threshold_shows_no_down_badge_beside_up_since(
    operator_client, htmx_headers, up_service, knob, django_capture_on_commit_callbacks
):
    knob.down = True
    html = check_now(operator_client, up_service, htmx_headers, django_capture_on_commit_callbacks)

    assert "status-down" not in html  # no "down" badge anywhere in the answer
    job_part = html[: html.index('id="health-status"')]
    assert "This check failed: " in text(job_part)
    status_part = html[html.index('<div id="health-status"') :]
    assert 'hx-swap-oob="true"' in status_part.split(">", 1)[0]  # the panel's status, same read
    story = text(status_part)
    assert story.startswith("up since 2 hours ago · the last check, now, failed")
    assert "1 of 3 failed checks in a row before it is marked down." in story
    assert "Why it failed: " in story
    # The page title's badge follows in the same answer.
    assert '<span id="service-status" hx-swap-oob="true"><span class="badge status-up">up' in html


def test_the_third_failure_makes_it_down_and_every_part_says_so(
    operator_client, htmx_headers, up_service, knob, django_capture_on_commit_callbacks
):
    knob.down = True
    for _ in range(2):
        sweep_db.check_now(up_service)
    html = check_now(operator_client, up_service, htmx_headers, django_capture_on_commit_callbacks)
    story = text(html[html.index('<div id="health-status"') :])
    assert story.startswith("down since now · the last check, now, failed")
    assert "before it is marked" not in story
    assert "status-up" not in html
    assert '<span id="service-status" hx-swap-oob="true"><span class="badge status-down">' in html


def test_recovering_counts_good_checks_until_up(
    operator_client, htmx_headers, up_service, knob, django_capture_on_commit_callbacks
):
    knob.down = True
    for _ in range(3):
        sweep_db.check_now(up_service)
    knob.down = False
    html = check_now(operator_client, up_service, htmx_headers, django_capture_on_commit_callbacks)
    assert "This check passed in" in text(html)
    story = text(html[html.index('<div id="health-status"') :])
    assert story.startswith("down since now · the last check, now, passed in")
    assert "1 of 2 good checks in a row before it is marked up." in story
    assert "Why it failed" not in story


def test_the_polled_status_part_updates_the_title_badge_too(
    viewer_client, htmx_headers, up_service
):
    response = viewer_client.get(f"/services/{up_service.name}/health/status/", **htmx_headers)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="health-status"')
    assert '<span id="service-status" hx-swap-oob="true"><span class="badge status-up">up' in html


def test_without_javascript_the_check_page_tells_the_same_story(
    operator_client, up_service, knob, django_capture_on_commit_callbacks
):
    knob.down = True
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/services/{up_service.name}/check/")
    page = operator_client.get(response["Location"]).content.decode()
    story = text(page[page.index('id="check-job"') :])
    assert "This check failed: " in story
    assert "up since 2 hours ago · the last check, now, failed" in story
    assert "1 of 3 failed checks in a row before it is marked down." in story
    assert f'href="/services/{up_service.name}/">back to {up_service.name}</a>' in page


def oob_part(html: str, element: str, part_id: str) -> str:
    """The out-of-band `<element id="part_id" ...>` of an htmx answer, up to its closing tag."""
    opening = re.search(rf'<{element} [^>]*id="{part_id}"[^>]*>', html)
    assert opening and 'hx-swap-oob="true"' in opening.group(0), f"no out-of-band #{part_id}"
    depth = 0
    for tag in re.finditer(rf"<(/?){element}\b", html[opening.start() :]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            return html[opening.start() : opening.start() + tag.end() + 1]
    raise AssertionError(f"#{part_id} is not closed")


def test_check_now_from_the_service_page_refreshes_its_figures_out_of_band(
    operator_client, up_service, knob, htmx_headers, django_capture_on_commit_callbacks
):
    # given the service page showing the 7-day range, whose Check now form sends that range
    page = operator_client.get(f"/services/{up_service.name}/?range=7d").content.decode()
    assert 'hx-include="#latency-range"' in page
    assert '<input type="hidden" id="latency-range" name="range" value="7d">' in page
    knob.down = True
    # when the operator presses Check now and the job finishes
    with django_capture_on_commit_callbacks(execute=True):
        started = operator_client.post(
            f"/services/{up_service.name}/check/", {"range": "7d"}, **htmx_headers
        )
    job_url = re.search(
        r'hx-get="(/services/notes/check/\d+/\?range=7d)"', started.content.decode()
    )
    assert job_url, "the poll keeps the page's range"
    polled = operator_client.get(job_url.group(1), **htmx_headers)
    assert polled.status_code == 286
    html = polled.content.decode()
    # then the answer carries every part the new result changes, read after it
    summary = oob_part(html, "table", "health-summary")
    assert "<td>24 h</td><td>2</td><td>50.00%</td>" in summary  # was 1 check, 100%
    chart = oob_part(html, "div", "latency-chart")
    assert "Latency percentiles, last 7 d" in chart and 'value="7d"' in chart
    data = re.search(r'<script id="latency-data" type="application/json">(.*?)</script>', chart)
    assert sum(json.loads(data.group(1))["checks"]) == 2  # the one before and this one
    phases = oob_part(html, "div", "phase-chart")
    assert "phases of the last 2 checks" in phases and 'id="phases-data"' in phases
    assert 'id="health-incidents"' in oob_part(html, "ul", "health-incidents")
    # no inline scripts or styles (CSP): the charts redraw from their json_script on htmx:load
    assert re.findall(r"<script(?![^>]*application/json)", html) == []
    assert " style=" not in html


def test_a_check_polled_from_its_own_page_sends_no_service_page_figures(
    operator_client, up_service, htmx_headers, django_capture_on_commit_callbacks
):
    html = check_now(operator_client, up_service, htmx_headers, django_capture_on_commit_callbacks)
    assert 'id="health-status"' in html  # as before
    assert 'id="latency-chart"' not in html and 'id="health-summary"' not in html
