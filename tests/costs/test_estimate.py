"""The what-if estimator, spend from usage and the month-end forecast, against figures by hand.

A month is 730 h = 2,628,000 s. Default prices: Cloud Run $0.000024/vCPU-s, $0.0000025/GiB-s,
idle $0.0000025/vCPU-s and /GiB-s, $0.40/M requests; Fargate $0.04048/vCPU-h, $0.004445/GB-h;
Container Apps $0.000024/vCPU-s, $0.000003/GiB-s; Kubernetes $0.031611/vCPU-h, $0.004237/GiB-h.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fleet.costs.errors import CostInputError
from fleet.costs.estimate import estimate_from_usage, estimate_monthly_cost, forecast_month
from fleet.costs.pricing import PriceTable, price_table
from fleet.operations.clouds.types import ScalingSettings, UsageSample

PRICES = PriceTable()


def test_cloud_run_min_instance_idle_plus_average_load():
    scaling = ScalingSettings(min_instances=1, max_instances=5, cpu="1", memory="512Mi")

    estimate = estimate_monthly_cost(
        "gcp", scaling, prices=PRICES, avg_instances=0.25, requests_per_month=3_000_000
    )

    # busy 0.25 x 2,628,000 s = 657,000 s:  CPU 657,000 x 0.000024 = 15.768
    #                                       memory 328,500 GiB-s x 0.0000025 = 0.82125
    # idle (1 - 0.25) x 2,628,000 = 1,971,000 s: CPU x 0.0000025 = 4.9275
    #                                       memory 985,500 GiB-s x 0.0000025 = 2.46375
    # requests 3 M x 0.40 = 1.20            total 25.1805 -> 25.18
    assert estimate.amount == Decimal("25.18")
    assert estimate.currency == "USD"
    assert estimate.breakdown == [
        "CPU, busy instances: 657,000 vCPU-s x 0.000024 = 15.77",
        "Memory, busy instances: 328,500 GiB-s x 0.0000025 = 0.82",
        "CPU, idle min instances: 1,971,000 vCPU-s x 0.0000025 = 4.93",
        "Memory, idle min instances: 985,500 GiB-s x 0.0000025 = 2.46",
        "Requests: 3 million requests x 0.4 = 1.20",
    ]
    assert any("free tiers" in line for line in estimate.assumptions)


def test_what_if_dropping_min_instances_removes_the_idle_cost():
    scaling = ScalingSettings(min_instances=0, max_instances=5, cpu="1", memory="512Mi")

    estimate = estimate_monthly_cost(
        "gcp", scaling, prices=PRICES, avg_instances=0.25, requests_per_month=3_000_000
    )

    # 15.768 + 0.82125 + 1.20 = 17.78925 -> 17.79
    assert estimate.amount == Decimal("17.79")


def test_what_if_lower_concurrency_needs_more_instance_time():
    # load = 26,280,000 requests x 0.5 s / (concurrency x 2,628,000 s)
    base = dict(min_instances=0, max_instances=10, cpu="2", memory="1Gi")
    at_40 = ScalingSettings(concurrency=40, **base)  # 0.125 instances busy
    at_20 = ScalingSettings(concurrency=20, **base)  # 0.25 instances busy
    load = dict(prices=PRICES, requests_per_month=26_280_000, request_seconds=0.5)

    # 0.125 x 2,628,000 = 328,500 s: CPU 657,000 vCPU-s x 0.000024 = 15.768,
    # memory 328,500 GiB-s x 0.0000025 = 0.82125, requests 26.28 M x 0.40 = 10.512 -> 27.10125
    assert estimate_monthly_cost("gcp", at_40, **load).amount == Decimal("27.10")
    # twice the time: 31.536 + 1.6425 + 10.512 = 43.6905 -> 43.69
    assert estimate_monthly_cost("gcp", at_20, **load).amount == Decimal("43.69")


def test_load_beyond_max_instances_is_capped_and_said():
    scaling = ScalingSettings(
        min_instances=0, max_instances=1, concurrency=1, cpu="1", memory="1Gi"
    )

    estimate = estimate_monthly_cost(
        "gcp", scaling, prices=PRICES, requests_per_month=26_280_000, request_seconds=0.5
    )

    # needs 26,280,000 x 0.5 / 2,628,000 = 5 instances; capped at 1 for the whole month:
    # CPU 2,628,000 x 0.000024 = 63.072, memory 2,628,000 x 0.0000025 = 6.57,
    # requests 26.28 x 0.40 = 10.512 -> 80.154 -> 80.15
    assert estimate.amount == Decimal("80.15")
    assert any("capped at max_instances=1" in line for line in estimate.assumptions)


def test_fargate_tasks_cost_the_whole_month():
    scaling = ScalingSettings(min_instances=2, max_instances=4, cpu="512", memory="1024")

    estimate = estimate_monthly_cost("aws", scaling, prices=PRICES)

    # 2 tasks x 730 h = 1460 task-hours; 0.5 vCPU -> 730 vCPU-h x 0.04048 = 29.5504
    # 1 GB -> 1460 GB-h x 0.004445 = 6.4897; total 36.0401 -> 36.04
    assert estimate.amount == Decimal("36.04")
    assert estimate.breakdown == [
        "CPU: 730 vCPU-h x 0.04048 = 29.55",
        "Memory: 1,460 GB-h x 0.004445 = 6.49",
    ]


def test_container_apps_busy_replica_all_month():
    scaling = ScalingSettings(min_instances=1, max_instances=3, cpu="0.5", memory="1.0Gi")

    estimate = estimate_monthly_cost("azure", scaling, prices=PRICES, avg_instances=1)

    # 2,628,000 s busy: CPU 1,314,000 vCPU-s x 0.000024 = 31.536; memory 2,628,000 x 0.000003
    # = 7.884; no idle time left; total 39.42
    assert estimate.amount == Decimal("39.42")


def test_kubernetes_replicas_at_default_and_overridden_prices():
    scaling = ScalingSettings(min_instances=3, max_instances=3, cpu="250m", memory="512Mi")
    custom = price_table({"kubernetes_vcpu_hour": "0.05", "kubernetes_gib_hour": "0.01"})

    default = estimate_monthly_cost("kubernetes", scaling, prices=PRICES)
    overridden = estimate_monthly_cost("kubernetes", scaling, prices=custom)

    # 3 x 730 = 2190 pod-hours: 547.5 vCPU-h x 0.031611 = 17.3070225,
    # 1095 GiB-h x 0.004237 = 4.639515; total 21.9465375 -> 21.95
    assert default.amount == Decimal("21.95")
    # 547.5 x 0.05 = 27.375 + 1095 x 0.01 = 10.95 -> 38.325, half-up -> 38.33
    assert overridden.amount == Decimal("38.33")


@pytest.mark.parametrize(
    ("scaling", "kwargs", "field"),
    [
        (ScalingSettings(memory="1Gi"), {}, "cpu"),
        (ScalingSettings(cpu="1"), {}, "memory"),
        (
            ScalingSettings(min_instances=3, max_instances=2, cpu="1", memory="1Gi"),
            {},
            "max_instances",
        ),
        (ScalingSettings(min_instances=-1, cpu="1", memory="1Gi"), {}, "min_instances"),
        (ScalingSettings(cpu="1", memory="1Gi"), {"avg_instances": -1}, "avg_instances"),
        (ScalingSettings(cpu="1", memory="1Gi"), {"requests_per_month": -5}, "requests_per_month"),
        (ScalingSettings(cpu="fast", memory="1Gi"), {}, "cpu"),
    ],
)
def test_bad_what_if_input_names_the_field(scaling, kwargs, field):
    with pytest.raises(CostInputError) as err:
        estimate_monthly_cost("gcp", scaling, prices=PRICES, **kwargs)
    assert err.value.field == field


def test_fargate_load_from_requests_needs_a_concurrency():
    scaling = ScalingSettings(cpu="1024", memory="2048")
    with pytest.raises(CostInputError) as err:
        estimate_monthly_cost(
            "aws", scaling, prices=PRICES, requests_per_month=1000, request_seconds=1
        )
    assert err.value.field == "concurrency"


def test_unknown_provider_is_refused():
    with pytest.raises(CostInputError) as err:
        estimate_monthly_cost("url", ScalingSettings(cpu="1", memory="1Gi"), prices=PRICES)
    assert err.value.field == "provider"


def test_spend_from_cloud_run_usage():
    usage = UsageSample(
        start="2026-11-01T00:00:00Z",
        end="2026-11-08T00:00:00Z",
        instance_seconds=100_000,
        vcpu_seconds=100_000,
        gib_seconds=50_000,
        requests=2_500_000,
    )
    # 100,000 x 0.000024 = 2.40; 50,000 x 0.0000025 = 0.125; 2.5 M x 0.40 = 1.00 -> 3.525 -> 3.53
    assert estimate_from_usage("gcp", usage, PRICES) == Decimal("3.53")


def test_spend_from_fargate_usage():
    usage = UsageSample(start="", end="", vcpu_seconds=7200, gib_seconds=14400)
    # 2 vCPU-h x 0.04048 = 0.08096; 4 GB-h x 0.004445 = 0.01778 -> 0.09874 -> 0.10
    assert estimate_from_usage("aws", usage, PRICES) == Decimal("0.10")


def test_usage_without_cpu_or_memory_is_refused_not_priced_at_zero():
    usage = UsageSample(start="", end="", instance_seconds=3600)
    with pytest.raises(CostInputError, match="usage"):
        estimate_from_usage("gcp", usage, PRICES)


@pytest.mark.parametrize(
    ("spend", "as_of", "forecast"),
    [
        ("120", date(2026, 11, 10), "360.00"),  # 120 / 10 days x 30
        ("70", date(2026, 2, 14), "140.00"),  # 70 / 14 x 28
        ("290", date(2028, 2, 29), "290.00"),  # last day of a leap February
        ("10", date(2026, 1, 3), "103.33"),  # 10 / 3 x 31 = 103.333...
        ("0", date(2026, 5, 1), "0.00"),
    ],
)
def test_forecast_is_the_linear_run_rate(spend, as_of, forecast):
    assert forecast_month(Decimal(spend), as_of) == Decimal(forecast)


def test_negative_spend_cannot_be_forecast():
    with pytest.raises(CostInputError, match="spend_to_date"):
        forecast_month(Decimal(-1), date(2026, 11, 2))
