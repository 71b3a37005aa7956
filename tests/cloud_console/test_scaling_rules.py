"""Desired scaling is checked per platform before anything is sent, each error on its field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from fleet.operations.services import validate_scaling


def errors_for(provider: str, values: dict, observed: dict | None = None) -> dict:
    with pytest.raises(ValidationError) as caught:
        validate_scaling(provider, values, observed)
    return {k: v[0] for k, v in caught.value.message_dict.items()}


@pytest.mark.parametrize(
    ("provider", "values"),
    [
        (
            "gcp",
            {
                "min_instances": 0,
                "max_instances": 100,
                "concurrency": 80,
                "cpu": "2",
                "memory": "1Gi",
            },
        ),
        ("gcp", {"cpu": "500m", "memory": "512Mi"}),
        ("aws", {"min_instances": 2, "max_instances": 10, "cpu": "1024", "memory": "2048"}),
        ("azure", {"concurrency": 50, "cpu": "0.75", "memory": "1.5Gi"}),
        ("kubernetes", {"min_instances": 1, "max_instances": 5, "cpu": "250m", "memory": "128Mi"}),
        ("kubernetes", {}),
    ],
)
def test_valid_settings_pass(provider, values):
    cleaned = validate_scaling(provider, values)
    assert {k: v for k, v in cleaned.items() if v is not None} == {
        k: (str(v) if k in ("cpu", "memory") else v) for k, v in values.items()
    }


def test_counts_must_be_whole_non_negative_and_ordered():
    assert (
        errors_for("gcp", {"min_instances": -1})["min_instances"]
        == "Must be between 0 and 1000 (got -1)."
    )
    assert (
        errors_for("gcp", {"max_instances": "ten"})["max_instances"]
        == "'ten' is not a whole number."
    )
    assert errors_for("gcp", {"min_instances": 3, "max_instances": 2}) == {
        "min_instances": "Min instances (3) must not exceed max instances (2)."
    }
    assert (
        "set max instances too"
        in errors_for("gcp", {"min_instances": 9}, {"max_instances": 4})["min_instances"]
    )


def test_concurrency_range_and_platform_support():
    assert (
        errors_for("gcp", {"concurrency": 0})["concurrency"]
        == "Must be between 1 and 1000 (got 0)."
    )
    assert errors_for("gcp", {"concurrency": 1001})["concurrency"].startswith(
        "Must be between 1 and 1000"
    )
    assert (
        "ECS has no per-task request concurrency"
        in errors_for("aws", {"concurrency": 5})["concurrency"]
    )
    assert (
        "no per-pod request concurrency"
        in errors_for("kubernetes", {"concurrency": 5})["concurrency"]
    )


@pytest.mark.parametrize(
    ("provider", "field", "value", "hint"),
    [
        ("gcp", "cpu", "3", "not a Cloud Run CPU limit"),
        ("gcp", "memory", "64Mi", "not a Cloud Run memory limit"),
        ("aws", "cpu", "1", "not a Fargate task CPU"),
        ("aws", "memory", "2Gi", "not a Fargate task memory"),
        ("azure", "cpu", "0.3", "not a Container Apps CPU"),
        ("azure", "memory", "1000Mi", "not a Container Apps memory size"),
        ("kubernetes", "cpu", "one", "not a Kubernetes quantity"),
    ],
)
def test_cpu_and_memory_formats_per_platform(provider, field, value, hint):
    assert hint in errors_for(provider, {field: value})[field]


def test_azure_pairs_memory_with_cpu_including_what_the_app_has_now():
    assert "cpu 1 needs memory 2Gi" in errors_for("azure", {"cpu": "1", "memory": "1Gi"})["memory"]
    assert "cpu 1 needs memory 2Gi" in errors_for("azure", {"cpu": "1"}, {"memory": "1Gi"})["cpu"]


def test_unknown_fields_are_named():
    assert "Unknown scaling field" in errors_for("gcp", {"replicas": 3})["replicas"]
