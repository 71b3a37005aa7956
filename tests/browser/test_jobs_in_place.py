"""In the browser: "Refresh from cloud" on a service page shows the job's progress inside the
cloud card (no page change), ending with a way to see the new state; the job page links back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.harness import assert_clean

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_refresh_from_cloud_in_place_and_back_from_the_job_page(open_page, operator, fleet):
    page_ = open_page(operator, 1400)
    name = fleet.weather.name
    page = page_.goto(f"/services/{name}/")
    page.locator("#service-cloud button", has_text="Refresh from cloud").click()
    job = page.locator("#cloud-job #job-status")
    expect(job).to_contain_text("succeeded", timeout=15_000)
    expect(page).to_have_url(re.compile(rf"/services/{name}/$"))  # stayed on the service page
    assert_clean([page_.check("Service page with a cloud job in place")])

    job.locator("a", has_text="job #").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/\?from=%2Fservices%2F"))
    page.locator("a", has_text=f"← Back to {name}").click()
    expect(page).to_have_url(re.compile(rf"/services/{name}/$"))
