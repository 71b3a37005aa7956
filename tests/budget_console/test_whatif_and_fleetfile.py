"""The scaling what-if (page, htmx fragment and API) and the fleet file's budgets section."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone

from console.notifications.models import AlertChannel
from fleet.budgets.fleetfile import export_budgets, import_budgets
from fleet.budgets.models import Budget
from fleet.operations.models import ServiceScaling
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

# One Cloud Run instance (1 vCPU, 0.5 GiB) kept idle all month, 730 h = 2,628,000 s:
# CPU 2,628,000 x 0.0000025 = 6.57, memory 1,314,000 GiB-s x 0.0000025 = 3.285 → 9.86 USD
WHATIF = "provider=gcp&min_instances=1&max_instances=10&concurrency=80&cpu=1&memory=512Mi"


def test_the_what_if_prices_scaling_settings_before_applying_them(viewer_client, htmx_headers):
    ServiceFactory(name="weather")

    response = viewer_client.get(f"/services/weather/cost-estimate/?{WHATIF}", **htmx_headers)

    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body  # the fragment only
    assert "Price model: 9.86 USD per month" in body
    assert "CPU, idle min instances: 2,628,000 vCPU-s x 0.0000025 = 6.57" in body
    assert "Nothing is changed in the cloud" in body


def test_more_traffic_costs_more_and_max_instances_caps_it(viewer_client):
    ServiceFactory(name="weather")
    busy = f"{WHATIF}&requests_per_month=100000000&request_seconds=2"
    body = viewer_client.get(f"/services/weather/cost-estimate/?{busy}").content.decode()
    # 1e8 x 2 s / 80 concurrency = 2,500,000 busy instance-seconds: CPU 60.00 + memory 3.125;
    # the min instance idles the other 128,000 s: 0.32 + 0.16; 100 M requests x 0.40 = 40.00
    assert "Price model: 103.61 USD per month" in body
    capped = busy.replace("max_instances=10", "max_instances=0").replace(
        "min_instances=1", "min_instances=0"
    )
    body = viewer_client.get(f"/services/weather/cost-estimate/?{capped}").content.decode()
    assert "capped at max_instances=0" in body and "Price model: 40.00 USD per month" in body


def test_bad_what_if_input_names_the_field(viewer_client, htmx_headers):
    ServiceFactory(name="weather")
    bad = WHATIF.replace("cpu=1", "cpu=lots")
    body = viewer_client.get(f"/services/weather/cost-estimate/?{bad}", **htmx_headers)
    assert "&#x27;lots&#x27; is not a CPU quantity" in body.content.decode()
    response = viewer_client.get(f"/services/weather/cost-estimate/?{bad}")
    assert response.status_code == 422
    low = viewer_client.get(
        f"/services/weather/cost-estimate/?{WHATIF.replace('max_instances=10', 'max_instances=0')}"
    )
    assert "(0) is below min_instances (1)" in low.content.decode()


def test_the_what_if_api(viewer_client):
    ServiceFactory(name="weather")
    url = "/api/v1/services/weather/cost-estimate"
    ok = viewer_client.get(f"{url}?{WHATIF}")
    assert ok.status_code == 200
    assert (ok.json()["amount"], ok.json()["currency"]) == ("9.86", "USD")
    assert ok.json()["scaling"]["min_instances"] == 1
    missing = viewer_client.get(f"{url}?provider=gcp&min_instances=1&memory=512Mi")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "cpu"]
    assert "cpu is not set" in missing.json()["detail"][0]["msg"]
    assert viewer_client.get("/api/v1/services/nope/cost-estimate").status_code == 404


def test_the_service_page_section_offers_a_budget_alert_and_the_what_if(operator, rf):
    service = ServiceFactory(name="weather", team="maps")
    Budget.objects.create(name="maps", scope="team", scope_value="maps", amount=50)
    html = render_to_string(
        "budgets/_service_budget.html", {"service": service, "can_operate": True}
    )
    assert "/budgets/new/?scope=service&amp;scope_value=weather" in html
    assert "maps" in html and "Team: maps" in html
    assert 'hx-get="/services/weather/cost-estimate/"' in html
    viewer_html = render_to_string(
        "budgets/_service_budget.html", {"service": service, "can_operate": False}
    )
    assert "Set budget alert" not in viewer_html


def test_fleet_file_budgets_round_trip_and_report_errors():
    ServiceFactory(name="weather", team="maps")
    entries = [
        {
            "name": "maps",
            "scope": "team",
            "scope_value": "maps",
            "amount": 250,
            "currency": "EUR",
            "thresholds": [80, "forecast:100"],
        },
    ]
    assert import_budgets(entries, "ci") == []
    assert export_budgets() == [
        {
            "name": "maps",
            "scope": "team",
            "scope_value": "maps",
            "amount": "250.00",
            "currency": "EUR",
            "thresholds": [
                {"percent": "80", "basis": "actual"},
                {"percent": "100", "basis": "forecast"},
            ],
        }
    ]
    AlertChannel.objects.create(name="maps-hook", type="webhook", target="https://x.test/h")
    assert import_budgets([{**entries[0], "channels": ["maps-hook"]}], "ci") == []
    assert export_budgets()[0]["channels"] == ["maps-hook"]
    assert import_budgets([{**entries[0], "channels": ["nope"]}], "ci") == [
        "budgets[0] (maps): channels: No alert channel named 'nope' (see Alerts → Channels)."
    ]
    errors = import_budgets(
        [
            {"name": "maps", "scope": "team", "scope_value": "maps", "amount": -1},
            {"name": "x", "scope": "team", "scope_value": "maps", "amount": 1, "colour": "red"},
        ],
        "ci",
    )
    assert errors == [
        "budgets[0] (maps): amount: must be greater than zero, got -1",
        "budgets[1] (x): colour: unknown field.",
    ]
    assert Budget.objects.get(name="maps").amount == 250


def test_admin_price_overrides_change_the_estimate(admin_user, viewer_client):
    from fleet.budgets.services import save_price_overrides

    ServiceFactory(name="weather")
    with pytest.raises(ValidationError, match="unknown price 'cloud_run_gpu'"):
        save_price_overrides(actor=admin_user, source="ui", prices={"cloud_run_gpu": 1})
    save_price_overrides(
        actor=admin_user, source="ui", prices={"cloud_run_idle_vcpu_second": "0.000005"}
    )
    body = viewer_client.get(f"/services/weather/cost-estimate/?{WHATIF}").content.decode()
    assert "Price model: 16.43 USD per month" in body  # CPU idle doubles: 13.14 + 3.285


def test_the_spend_schedule_is_installed():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="budgets.ingest_spend_task")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "hours")


def test_the_what_if_prices_the_desired_scaling_waiting_for_apply(viewer_client):
    """Desired min instances 1 saved but not applied: the service page shows what Apply costs."""
    service = ServiceFactory(name="weather")
    ServiceScaling.objects.create(
        service=service,
        observed_min_instances=0,
        observed_max_instances=10,
        observed_concurrency=80,
        observed_cpu="1",
        observed_memory="512Mi",
        observed_at=timezone.now(),
        desired_min_instances=1,
    )

    body = viewer_client.get("/services/weather/cost-estimate/").content.decode()

    assert "desired scaling saved for weather and not applied yet" in body
    assert 'name="min_instances" value="1"' in body
    assert (
        "Price model: 9.86 USD per month" in body
        and "0.00 USD with the settings in the cloud now" in body
    )
    assert "+9.86 USD" in body


def test_the_what_if_prices_the_scaling_in_the_cloud_on_first_look(viewer_client):
    service = ServiceFactory(name="weather")
    ServiceScaling.objects.create(
        service=service,
        observed_min_instances=1,
        observed_cpu="1",
        observed_memory="512Mi",
        observed_at=timezone.now(),
    )

    body = viewer_client.get("/services/weather/cost-estimate/").content.decode()

    assert "scaling last seen in the cloud" in body
    assert "Price model: 9.86 USD per month" in body and "in the cloud now" not in body
