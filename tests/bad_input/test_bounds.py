"""Every number and date a person types has one range (console.limits); past it: 4xx naming it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from checks.models import CheckConfig
from console import limits
from console.models import ApiToken
from console.notifications.models import Silence
from fleet.budgets.models import Budget
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(operator) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(operator, 'ci')[1]}")


def _detail(response) -> dict:
    return {tuple(d["loc"]): d["msg"] for d in response.json()["detail"]}


HUGE = 10**30


@pytest.mark.parametrize(
    "field, value, shown",
    [
        ("interval_seconds", HUGE, "between 10 and 86400 seconds"),
        ("interval_seconds", 86_401, "between 10 and 86400 seconds"),
        ("timeout_seconds", 1e308, "between 0.1 and 120 seconds"),
        ("failure_threshold", 40_000, "between 1 and 100 checks"),
        ("recovery_threshold", 0, "between 1 and 100 checks"),
        ("slow_ms", 2**63, "between 1 and 600000 ms"),
        ("expected_status", 99, "between 100 and 599"),
    ],
)
def test_check_settings_out_of_range_are_422_naming_the_bound(api, field, value, shown):
    ServiceFactory(name="notes")
    response = api.patch(
        "/api/v1/services/notes/checks/settings",
        json.dumps({field: value}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert shown in _detail(response)[("body", field)]
    assert not CheckConfig.objects.filter(**{field: value}).exists()


def test_check_interval_past_a_day_is_a_form_error_on_the_settings_page(operator_client):
    ServiceFactory(name="notes")
    response = operator_client.post(
        "/services/notes/checks/settings/",
        {
            "enabled": "on",
            "interval_seconds": "999999999999",
            "timeout_seconds": "10",
            "failure_threshold": "3",
            "recovery_threshold": "2",
            "slow_ms": "2000",
            "expected_status": "200",
        },
    )
    assert response.status_code == 422
    assert "Interval (seconds)" in response.content.decode()


@pytest.mark.parametrize(
    "body, field, shown",
    [
        ({"minutes": 10**12}, "minutes", "between 1 and 527040 minutes"),
        ({"minutes": 0}, "minutes", "between 1 and 527040 minutes"),
        ({"ends_at": "9999-12-31T23:59:59Z"}, "ends_at", "at most 366 days after the start"),
        ({"starts_at": "9999-12-31T23:00:00Z", "minutes": 600}, "starts_at", "within 366 days"),
        ({"starts_at": "0001-01-01T00:00:00+01:00", "minutes": 5}, "starts_at", "within 366 days"),
    ],
)
def test_silence_minutes_and_dates_cannot_overflow(api, body, field, shown):
    response = api.post(
        "/api/v1/alerts/silences",
        json.dumps({"match_service": "notes", "reason": "deploy", **body}),
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert shown in _detail(response)[("body", field)]
    assert not Silence.objects.exists()


def test_a_silence_without_a_time_zone_is_read_as_utc(api):
    response = api.post(
        "/api/v1/alerts/silences",
        json.dumps({"match_service": "notes", "reason": "deploy", "minutes": 30}),
        content_type="application/json",
    )
    assert response.status_code == 201
    naive = api.post(
        "/api/v1/alerts/silences",
        json.dumps({"reason": "x", "starts_at": "2026-11-30T12:00:00", "minutes": 10**6}),
        content_type="application/json",
    )
    assert naive.status_code == 422


@pytest.mark.parametrize(
    "amount, shown",
    [
        ("1e30", "between 0.01 and 999999999999.99"),
        ("999999999999999999999999999999999999.5", "between 0.01 and 999999999999.99"),
        ("1000000000000", "between 0.01 and 999999999999.99"),
    ],
)
def test_budget_amount_past_the_column_is_422(api, amount, shown):
    response = api.post(
        "/api/v1/budgets",
        json.dumps({"name": "big", "scope": "fleet", "amount": amount}),
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert shown in _detail(response)[("body", "amount")]
    assert not Budget.objects.exists()


@pytest.mark.parametrize(
    "query, field",
    [
        ("requests_per_month=99999999999999999999", "requests_per_month"),
        ("request_seconds=1e308", "request_seconds"),
        ("avg_instances=1e300", "avg_instances"),
        ("max_instances=100000000000000000000", "max_instances"),
    ],
)
def test_cost_estimate_inputs_are_bounded(api, query, field):
    ServiceFactory(name="notes")
    response = api.get(f"/api/v1/services/notes/cost-estimate?provider=gcp&{query}")
    assert response.status_code == 422, response.content
    assert any(loc[-1] == field for loc in _detail(response))


@pytest.mark.parametrize("query", ["offset=9223372036854775808", "limit=0", "limit=100000"])
def test_api_paging_is_bounded(api, query):
    response = api.get(f"/api/v1/services?{query}")
    assert response.status_code == 422
    field = query.split("=")[0]
    assert ("query", field) in _detail(response)


@pytest.mark.parametrize("value", ["99999999999999999999", "1e999", "-1", "1001"])
def test_budget_amount_is_bounded_in_the_fleet_file_too(value, tmp_path):
    """The fleet file reaches the same rules: a budget amount past the column is refused."""
    from django.core.management import CommandError, call_command

    path = tmp_path / "fleet.yaml"
    path.write_text(f"budgets:\n  - name: b\n    scope: fleet\n    amount: '{value}e12'\n")
    with pytest.raises(CommandError, match="amount"):
        call_command("fleet", "import", str(path))
    assert not Budget.objects.exists()


def test_every_bound_is_finite_and_ordered():
    for name, bound in limits.BOUNDS.items():
        assert bound.low <= bound.high, name
        assert limits.number_problem(bound.low, bound) is None, name
        assert limits.number_problem(bound.high, bound) is None, name
        assert limits.number_problem(float("nan"), bound), name
        assert limits.number_problem(float("inf"), bound), name
