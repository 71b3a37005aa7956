"""List prices per platform, overridable, and cpu/memory parsing as each platform spells them.

Defaults are on-demand list prices in USD for the cheapest common region (us-central1 / us-east-1 /
East US), without free tiers, committed-use or savings-plan discounts: estimates are an upper
bound a team can reason about, not an invoice. Override any figure with a dict (e.g. from a
JSON/YAML file) when your region or contract differs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from fleet.costs.errors import CostInputError
from fleet.costs.money import to_decimal, validate_currency


@dataclass(frozen=True)
class PriceTable:
    """Unit prices used by the estimator. Free tiers are ignored on purpose (see module doc)."""

    currency: str = "USD"
    hours_per_month: Decimal = Decimal("730")  # the month the clouds' own calculators use
    # Cloud Run, request-based billing, Tier 1 regions.
    cloud_run_vcpu_second: Decimal = Decimal("0.000024")
    cloud_run_gib_second: Decimal = Decimal("0.0000025")
    # Min instances that sit idle are billed at a lower CPU rate; memory keeps its price.
    cloud_run_idle_vcpu_second: Decimal = Decimal("0.0000025")
    cloud_run_idle_gib_second: Decimal = Decimal("0.0000025")
    cloud_run_per_million_requests: Decimal = Decimal("0.40")
    # ECS on Fargate, Linux/x86, us-east-1.
    fargate_vcpu_hour: Decimal = Decimal("0.04048")
    fargate_gb_hour: Decimal = Decimal("0.004445")
    # Azure Container Apps, Consumption plan; idle replicas get a reduced rate.
    container_apps_vcpu_second: Decimal = Decimal("0.000024")
    container_apps_gib_second: Decimal = Decimal("0.000003")
    container_apps_idle_vcpu_second: Decimal = Decimal("0.000003")
    container_apps_idle_gib_second: Decimal = Decimal("0.000003")
    container_apps_per_million_requests: Decimal = Decimal("0.40")
    # Kubernetes: what a node's vCPU and GiB cost you; default is an on-demand E2 VM
    # (us-central1), a fair middle for a self-run or GKE Standard cluster.
    kubernetes_vcpu_hour: Decimal = Decimal("0.031611")
    kubernetes_gib_hour: Decimal = Decimal("0.004237")


def price_table(overrides: dict[str, Any] | None = None) -> PriceTable:
    """The default prices with `overrides` merged over them; unknown keys are an error."""
    if not overrides:
        return PriceTable()
    if not isinstance(overrides, dict):
        raise CostInputError("prices", "overrides must be a mapping of price name to value")
    known = {f.name for f in dataclasses.fields(PriceTable)}
    values: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in known:
            raise CostInputError(f"prices.{key}", f"unknown price {key!r}; known: {sorted(known)}")
        if key == "currency":
            values[key] = validate_currency(raw, field="prices.currency")
            continue
        number = to_decimal(raw, field=f"prices.{key}")
        if number < 0 or (key == "hours_per_month" and number == 0):
            raise CostInputError(f"prices.{key}", f"must be positive, got {number}")
        values[key] = number
    return dataclasses.replace(PriceTable(), **values)


def load_price_table(path: str | Path) -> PriceTable:
    """Read overrides from a .json or .yaml/.yml file and merge them over the defaults."""
    path = Path(path)
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return price_table(data or {})


_CPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|vcpu|cpu)?\s*$", re.IGNORECASE)
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
# Case matters, as in Kubernetes: "M" is megabytes, "m" would be milli-bytes (always a typo here).
_MEMORY_UNITS: dict[str, int] = {
    "": 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
}
_ECS_MEMORY_UNITS: dict[str, int] = {
    "": 2**20,
    "MB": 2**20,
    "MiB": 2**20,
    "GB": 2**30,
    "GiB": 2**30,
}
_GIB = Decimal(2**30)


def parse_cpu(value: str | int | float, *, provider: str = "", field: str = "cpu") -> Decimal:
    """vCPUs from "1", "0.5", "500m", "0.25 vCPU"; on "aws" a bare integer is ECS CPU units."""
    match = _CPU.match(str(value))
    if not match:
        raise CostInputError(
            field, f"{value!r} is not a CPU quantity (examples: '1', '500m', '0.25 vCPU', '1024')"
        )
    number, unit = Decimal(match.group(1)), (match.group(2) or "").lower()
    if unit == "m":
        vcpus = number / 1000
    elif provider == "aws" and not unit and "." not in match.group(1):
        vcpus = number / 1024  # ECS task definitions count CPU in units of 1/1024 vCPU
    else:
        vcpus = number
    if vcpus <= 0:
        raise CostInputError(field, f"{value!r} must be more than zero")
    return vcpus


def parse_memory(value: str | int | float, *, provider: str = "", field: str = "memory") -> Decimal:
    """GiB from "512Mi", "1Gi", "2G" (decimal), "1.0Gi"; on "aws" bare numbers are MiB."""
    match = _MEMORY.match(str(value))
    if not match or (match.group(2) or "") not in _MEMORY_UNITS:
        raise CostInputError(
            field, f"{value!r} is not a memory quantity (examples: '512Mi', '1Gi', '2G', '2048')"
        )
    number, unit = Decimal(match.group(1)), match.group(2) or ""
    if provider == "aws":
        # ECS: an integer is MiB; "GB" strings are converted by ECS as GiB (1 GB = 1024 MiB).
        factor = _ECS_MEMORY_UNITS.get(unit)
        if factor is None:
            raise CostInputError(field, f"{value!r}: ECS memory is MiB ('2048') or GB ('2 GB')")
    elif not unit and provider == "azure":
        raise CostInputError(field, f"{value!r}: Container Apps memory needs a unit ('1Gi')")
    else:
        factor = _MEMORY_UNITS[unit]  # Kubernetes quantity rules: a bare number is bytes
    gib = number * factor / _GIB
    if gib <= 0:
        raise CostInputError(field, f"{value!r} must be more than zero")
    return gib
