"""Price table overrides and cpu/memory parsing as each platform spells them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fleet.costs.errors import CostInputError
from fleet.costs.pricing import PriceTable, load_price_table, parse_cpu, parse_memory, price_table


@pytest.mark.parametrize(
    ("value", "provider", "vcpus"),
    [
        ("1", "gcp", "1"),
        ("2", "kubernetes", "2"),
        ("500m", "kubernetes", "0.5"),
        ("0.25 vCPU", "aws", "0.25"),
        ("1 vcpu", "aws", "1"),
        ("1024", "aws", "1"),  # ECS CPU units
        ("256", "aws", "0.25"),
        ("0.5", "azure", "0.5"),
        (2, "gcp", "2"),
    ],
)
def test_cpu_is_read_as_each_platform_spells_it(value, provider, vcpus):
    assert parse_cpu(value, provider=provider) == Decimal(vcpus)


@pytest.mark.parametrize(
    ("value", "provider", "gib"),
    [
        ("512Mi", "gcp", "0.5"),
        ("1Gi", "kubernetes", "1"),
        ("1.5Gi", "azure", "1.5"),
        ("2048", "aws", "2"),  # ECS MiB
        ("2 GB", "aws", "2"),  # ECS turns GB into 1024 MiB each
        ("536870912", "kubernetes", "0.5"),  # a bare Kubernetes quantity is bytes
        ("1073741824", "gcp", "1"),
    ],
)
def test_memory_is_read_as_each_platform_spells_it(value, provider, gib):
    assert parse_memory(value, provider=provider) == Decimal(gib)


def test_decimal_gigabytes_are_smaller_than_gibibytes():
    # "2G" is 2 x 10^9 bytes = 2,000,000,000 / 1,073,741,824 GiB
    assert parse_memory("2G") == Decimal(2_000_000_000) / Decimal(2**30)


@pytest.mark.parametrize("value", ["", "one", "1.5.2", "-1", "0", "12 cores"])
def test_bad_cpu_names_the_field(value):
    with pytest.raises(CostInputError) as err:
        parse_cpu(value)
    assert err.value.field == "cpu"
    assert str(err.value).startswith("cpu: ")


@pytest.mark.parametrize(
    ("value", "provider"),
    [("512m", "kubernetes"), ("lots", "gcp"), ("0Mi", "gcp"), ("1", "azure"), ("2 Gi", "aws")],
)
def test_bad_memory_names_the_field(value, provider):
    # "512m" is milli-bytes in Kubernetes: always a typo for "512Mi", so it is refused.
    with pytest.raises(CostInputError) as err:
        parse_memory(value, provider=provider, field="scaling.memory")
    assert err.value.field == "scaling.memory"


def test_defaults_are_the_published_list_prices():
    prices = PriceTable()
    assert prices.cloud_run_vcpu_second == Decimal("0.000024")
    assert prices.cloud_run_per_million_requests == Decimal("0.40")
    assert prices.fargate_vcpu_hour == Decimal("0.04048")
    assert prices.container_apps_gib_second == Decimal("0.000003")
    assert prices.currency == "USD"


def test_overrides_merge_over_the_defaults():
    prices = price_table({"kubernetes_vcpu_hour": "0.05", "fargate_gb_hour": 0.005})
    assert prices.kubernetes_vcpu_hour == Decimal("0.05")
    assert prices.fargate_gb_hour == Decimal("0.005")  # a float is read by its repr, no noise
    assert prices.cloud_run_vcpu_second == PriceTable().cloud_run_vcpu_second


def test_an_unknown_override_is_named():
    with pytest.raises(CostInputError, match="cloud_run_cpu_second") as err:
        price_table({"cloud_run_cpu_second": "0.1"})
    assert err.value.field == "prices.cloud_run_cpu_second"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"fargate_vcpu_hour": "-1"}, "prices.fargate_vcpu_hour"),
        ({"fargate_vcpu_hour": "cheap"}, "prices.fargate_vcpu_hour"),
        ({"currency": "ZZZ"}, "prices.currency"),
        ({"hours_per_month": 0}, "prices.hours_per_month"),
    ],
)
def test_bad_override_values_are_named(overrides, field):
    with pytest.raises(CostInputError) as err:
        price_table(overrides)
    assert err.value.field == field


def test_overrides_load_from_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text("currency: EUR\nkubernetes_gib_hour: '0.006'\n")
    json_file = tmp_path / "prices.json"
    json_file.write_text('{"cloud_run_gib_second": "0.000003"}')

    from_yaml, from_json = load_price_table(yaml_file), load_price_table(json_file)

    assert (from_yaml.currency, from_yaml.kubernetes_gib_hour) == ("EUR", Decimal("0.006"))
    assert from_json.cloud_run_gib_second == Decimal("0.000003")
