"""Cloud Run usage through the official Monitoring client (gRPC) against the fake; requested usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from google.api_core import exceptions as gexc

from fleet.costs.errors import CostInputError, CostSyncError
from fleet.costs.estimate import estimate_from_usage
from fleet.costs.pricing import PriceTable
from fleet.costs.usage import BILLABLE_TIME, REQUEST_COUNT, cloud_run_usage, requested_usage
from fleet.operations.clouds.types import ScalingSettings
from tests.costs.conftest import FAST_RETRY
from tests.fakes.monitoring import SeededSeries

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=1)


def minutes(first: int, values: list[float | int]) -> list[tuple[datetime, datetime, float | int]]:
    """DELTA points one minute wide, starting `first` minutes after START."""
    return [
        (START + timedelta(minutes=first + i), START + timedelta(minutes=first + i + 1), v)
        for i, v in enumerate(values)
    ]


@pytest.fixture
def seeded(monitoring_fake):
    api = {"service_name": "api", "location": "europe-west1"}
    monitoring_fake.seed(
        SeededSeries(BILLABLE_TIME, {**api, "revision_name": "api-00001"}, minutes(0, [60, 60.0]))
    )
    monitoring_fake.seed(
        SeededSeries(BILLABLE_TIME, {**api, "revision_name": "api-00002"}, minutes(5, [30.5]))
    )
    # The day before the window: not counted.
    before = [(START - timedelta(minutes=2), START - timedelta(minutes=1), 999.0)]
    monitoring_fake.seed(SeededSeries(BILLABLE_TIME, {**api, "revision_name": "api-00001"}, before))
    # Another service: not counted.
    monitoring_fake.seed(SeededSeries(BILLABLE_TIME, {"service_name": "web"}, minutes(0, [500.0])))
    for code, counts in (("2xx", [1200, 800]), ("5xx", [3])):
        monitoring_fake.seed(
            SeededSeries(
                REQUEST_COUNT,
                api,
                minutes(0, counts),
                metric_labels={"response_code_class": code},
                value_type="INT64",
            )
        )
    return monitoring_fake


def test_usage_sums_every_revision_of_the_service_in_the_window(seeded, monitoring_client):
    scaling = ScalingSettings(cpu="2", memory="1Gi")

    usage = cloud_run_usage(
        "acme-prod", "api", START, END, scaling=scaling, client=monitoring_client
    )

    # 60 + 60 + 30.5 instance-seconds; x 2 vCPU; x 1 GiB; 1200 + 800 + 3 requests
    assert usage.instance_seconds == 150.5
    assert (usage.vcpu_seconds, usage.gib_seconds) == (301.0, 150.5)
    assert usage.requests == 2003
    assert (usage.start, usage.end) == ("2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00")


def test_the_exact_requests_sent_to_monitoring(seeded, monitoring_client):
    cloud_run_usage("acme-prod", "api", START, END, client=monitoring_client)

    assert seeded.filters == [
        'metric.type = "run.googleapis.com/container/billable_instance_time"'
        ' AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "api"',
        'metric.type = "run.googleapis.com/request_count"'
        ' AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "api"',
    ]
    first = seeded.requests[0]
    assert first.name == "projects/acme-prod"
    assert (first.interval.start_time, first.interval.end_time) == (START, END)


def test_measured_usage_prices_into_spend(seeded, monitoring_client):
    scaling = ScalingSettings(cpu="2", memory="1Gi")
    usage = cloud_run_usage(
        "acme-prod", "api", START, END, scaling=scaling, client=monitoring_client
    )

    # 301 vCPU-s x 0.000024 = 0.007224; 150.5 GiB-s x 0.0000025 = 0.00037625;
    # 2003 requests = 0.002003 M x 0.40 = 0.0008012 -> 0.00840145 -> 0.01
    assert estimate_from_usage("gcp", usage, PriceTable()) == Decimal("0.01")


def test_a_service_without_traffic_has_no_usage(seeded, monitoring_client):
    usage = cloud_run_usage("acme-prod", "idle-svc", START, END, client=monitoring_client)
    assert (usage.instance_seconds, usage.requests) == (0.0, 0)


def test_a_name_that_could_break_the_filter_is_refused_before_any_call(seeded, monitoring_client):
    with pytest.raises(CostInputError) as err:
        cloud_run_usage(
            "acme-prod", 'api" OR metric.type = "x', START, END, client=monitoring_client
        )
    assert err.value.field == "service"
    assert seeded.requests == []


def test_the_fake_rejects_a_malformed_filter_like_the_api(monitoring_fake, monitoring_client):
    request = {
        "name": "projects/acme-prod",
        "filter": 'metric.type = "x" AND resource.labels.service_name = api',
        "interval": {"end_time": END},
    }
    with pytest.raises(gexc.InvalidArgument, match="invalid term"):
        list(monitoring_client.list_time_series(request=request, retry=None))


def test_permission_denied_names_the_service(monitoring_fake, monitoring_client):
    monitoring_fake.fail_with = grpc.StatusCode.PERMISSION_DENIED

    with pytest.raises(CostSyncError) as err:
        cloud_run_usage("acme-prod", "api", START, END, client=monitoring_client, retry=FAST_RETRY)

    assert err.value.cause == "permission"
    assert "gcp monitoring" in str(err.value)
    assert "projects/acme-prod service api" in str(err.value)
    assert len(monitoring_fake.requests) == 1


def test_unavailable_is_retried_then_reported(monitoring_fake, monitoring_client):
    monitoring_fake.fail_with = grpc.StatusCode.UNAVAILABLE

    with pytest.raises(CostSyncError) as err:
        cloud_run_usage("acme-prod", "api", START, END, client=monitoring_client, retry=FAST_RETRY)

    assert (err.value.cause, err.value.attempts) == ("unavailable", 3)
    assert len(monitoring_fake.requests) == 3


def test_requested_usage_for_kubernetes_replicas():
    scaling = ScalingSettings(min_instances=3, max_instances=6, cpu="250m", memory="512Mi")

    usage = requested_usage(scaling, 24, start=START)

    # 3 replicas x 24 h x 3600 s = 259,200 s; x 0.25 vCPU = 64,800; x 0.5 GiB = 129,600
    assert usage.instance_seconds == 259_200
    assert (usage.vcpu_seconds, usage.gib_seconds) == (64_800, 129_600)
    assert usage.end == "2026-11-02T00:00:00+00:00"


def test_requested_usage_with_observed_container_app_replicas():
    scaling = ScalingSettings(min_instances=0, max_instances=10, cpu="0.5", memory="1.0Gi")

    usage = requested_usage(scaling, 1, provider="azure", instances=2)

    # 2 x 3600 s = 7200 s; x 0.5 vCPU = 3600; x 1 GiB = 7200
    assert (usage.vcpu_seconds, usage.gib_seconds) == (3600, 7200)


@pytest.mark.parametrize(
    ("scaling", "hours", "field"),
    [
        (ScalingSettings(min_instances=1, cpu="1", memory="1Gi"), 0, "hours"),
        (ScalingSettings(cpu="1", memory="1Gi"), 1, "instances"),
        (ScalingSettings(min_instances=1, memory="1Gi"), 1, "cpu"),
    ],
)
def test_requested_usage_input_errors_name_the_field(scaling, hours, field):
    with pytest.raises(CostInputError) as err:
        requested_usage(scaling, hours)
    assert err.value.field == field
