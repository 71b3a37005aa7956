"""Monthly cost estimates: the scaling what-if, spend from measured usage, and a month-end forecast.

Assumptions of the what-if (also listed on every `CostEstimate`, so the UI can show them):
- A month is `prices.hours_per_month` hours (730, as the clouds' calculators use).
- Min instances run all month. On Cloud Run and Container Apps an instance that is not serving
  requests is billed at the lower idle rate; ECS tasks and Kubernetes pods cost the same either way.
- The load figure is the average number of instances busy serving requests (`avg_instances`), or
  is derived from `requests_per_month x request_seconds / concurrency`; capped at max instances.
- Free tiers, discounts, networking, load balancers and storage are not included.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from fleet.costs.errors import CostInputError
from fleet.costs.money import to_decimal
from fleet.costs.pricing import PriceTable, parse_cpu, parse_memory
from fleet.operations.clouds.types import ScalingSettings, UsageSample

CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)
SECONDS_PER_HOUR = Decimal(3600)
# Platform defaults for requests served at once by one instance, when the settings leave it unset.
DEFAULT_CONCURRENCY = {"gcp": 80, "azure": 10}
PROVIDERS = ("gcp", "aws", "azure", "kubernetes")


@dataclass(frozen=True)
class CostLine:
    """One line of a breakdown: quantity x unit price."""

    label: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    def __str__(self) -> str:
        quantity = f"{self.quantity.quantize(Decimal('0.01')).normalize():,f}"
        return (
            f"{self.label}: {quantity} {self.unit} x {self.unit_price.normalize():f}"
            f" = {self.amount.quantize(CENT, ROUND_HALF_UP):,f}"
        )


@dataclass
class CostEstimate:
    """An estimated monthly cost with the lines it is made of and the assumptions behind it."""

    amount: Decimal  # rounded to cents
    currency: str
    lines: list[CostLine] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    @property
    def breakdown(self) -> list[str]:
        """The lines as text a user can read."""
        return [str(line) for line in self.lines]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise CostInputError("provider", f"{provider!r} has no price model; use one of {PROVIDERS}")


def _busy_instances(
    provider: str,
    scaling: ScalingSettings,
    month_seconds: Decimal,
    avg_instances: float | None,
    requests_per_month: int,
    request_seconds: float | None,
) -> Decimal:
    """Average instances busy serving requests, before capping at max instances."""
    if avg_instances is not None:
        busy = to_decimal(avg_instances, field="avg_instances")
        if busy < 0:
            raise CostInputError("avg_instances", f"must not be negative, got {busy}")
        return busy
    if not requests_per_month or request_seconds is None:
        return Decimal(0)
    concurrency = scaling.concurrency or DEFAULT_CONCURRENCY.get(provider)
    if not concurrency or concurrency < 1:
        raise CostInputError("concurrency", "needed to turn requests into instances (at least 1)")
    seconds = to_decimal(request_seconds, field="request_seconds")
    if seconds <= 0:
        raise CostInputError("request_seconds", f"must be more than zero, got {seconds}")
    return Decimal(requests_per_month) * seconds / (Decimal(concurrency) * month_seconds)


def _traffic_assumption(
    requests_per_month: int | None, request_seconds: float | None, avg_instances: float | None
) -> str:
    """What the estimate assumes about traffic, or a CostInputError when an input is missing."""
    if avg_instances is not None:
        return f"{avg_instances} instance(s) busy on average, as given"
    if requests_per_month is None:
        return (
            "traffic not given: no request charges and no busy instances are priced "
            "(enter requests per month and seconds per request, or an average instance count)"
        )
    if requests_per_month and request_seconds is None:
        raise CostInputError(
            "request_seconds",
            f"is needed to price {requests_per_month} requests a month "
            "(how long one request keeps an instance busy)",
        )
    if not requests_per_month:
        return "no traffic: 0 requests a month"
    return ""


def _instance_bounds(scaling: ScalingSettings) -> tuple[int, int | None]:
    low = scaling.min_instances or 0
    high = scaling.max_instances
    if low < 0:
        raise CostInputError("min_instances", f"must not be negative, got {low}")
    if high is not None and high < low:
        raise CostInputError("max_instances", f"({high}) is below min_instances ({low})")
    return low, high


def _required(value: str | None, name: str) -> str:
    if value is None or str(value).strip() == "":
        raise CostInputError(name, "is not set; the estimate needs it")
    return value


def estimate_monthly_cost(
    provider: str,
    scaling: ScalingSettings,
    *,
    prices: PriceTable,
    avg_instances: float | None = None,
    requests_per_month: int | None = None,
    request_seconds: float | None = None,
) -> CostEstimate:
    """Estimated monthly cost of a service with these scaling settings (see module assumptions).

    Traffic is never priced from a missing input: requests without a duration are refused (the
    duration turns requests into busy instances), and no traffic given at all is stated as an
    assumption in the result.
    """
    _check_provider(provider)
    vcpus = parse_cpu(_required(scaling.cpu, "cpu"), provider=provider)
    gib = parse_memory(_required(scaling.memory, "memory"), provider=provider)
    if requests_per_month is not None and requests_per_month < 0:
        raise CostInputError(
            "requests_per_month", f"must not be negative, got {requests_per_month}"
        )
    traffic_note = _traffic_assumption(requests_per_month, request_seconds, avg_instances)
    requests_per_month = requests_per_month or 0
    low, high = _instance_bounds(scaling)
    month_seconds = prices.hours_per_month * SECONDS_PER_HOUR
    busy = _busy_instances(
        provider, scaling, month_seconds, avg_instances, requests_per_month, request_seconds
    )
    assumptions = [
        f"{prices.hours_per_month.normalize():f}-hour month; free tiers and discounts not deducted",
        f"{low} min instance(s) run all month",
    ]
    if traffic_note:
        assumptions.append(traffic_note)
    if high is not None and busy > high:
        assumptions.append(f"load needs {busy:.2f} instances; capped at max_instances={high}")
        busy = Decimal(high)
    if provider in ("gcp", "azure"):
        lines = _serverless_lines(provider, prices, vcpus, gib, low, busy, month_seconds)
        lines += _request_lines(provider, prices, requests_per_month)
        assumptions.append(
            f"{busy.normalize():f} instance(s) busy on average; idle min at idle rate"
        )
    else:
        running = max(Decimal(low), busy)
        lines = _always_on_lines(provider, prices, vcpus, gib, running)
        assumptions.append(f"{running.normalize():f} instance(s) running on average")
    total = sum((line.amount for line in lines), Decimal(0))
    return CostEstimate(_cents(total), prices.currency, lines, assumptions)


def _line(label: str, quantity: Decimal, unit: str, price: Decimal) -> CostLine:
    return CostLine(label, quantity, unit, price, quantity * price)


def _serverless_lines(
    provider: str,
    prices: PriceTable,
    vcpus: Decimal,
    gib: Decimal,
    low: int,
    busy: Decimal,
    month_seconds: Decimal,
) -> list[CostLine]:
    """Cloud Run / Container Apps: busy instance time at the active rate, idle min at idle rate."""
    if provider == "gcp":
        rates = (
            prices.cloud_run_vcpu_second,
            prices.cloud_run_gib_second,
            prices.cloud_run_idle_vcpu_second,
            prices.cloud_run_idle_gib_second,
        )
    else:
        rates = (
            prices.container_apps_vcpu_second,
            prices.container_apps_gib_second,
            prices.container_apps_idle_vcpu_second,
            prices.container_apps_idle_gib_second,
        )
    busy_seconds = busy * month_seconds
    idle_seconds = max(Decimal(low) - busy, Decimal(0)) * month_seconds
    lines = []
    if busy_seconds:
        lines.append(_line("CPU, busy instances", busy_seconds * vcpus, "vCPU-s", rates[0]))
        lines.append(_line("Memory, busy instances", busy_seconds * gib, "GiB-s", rates[1]))
    if idle_seconds:
        lines.append(_line("CPU, idle min instances", idle_seconds * vcpus, "vCPU-s", rates[2]))
        lines.append(_line("Memory, idle min instances", idle_seconds * gib, "GiB-s", rates[3]))
    return lines


def _request_lines(provider: str, prices: PriceTable, requests: int) -> list[CostLine]:
    if not requests:
        return []
    price = (
        prices.cloud_run_per_million_requests
        if provider == "gcp"
        else prices.container_apps_per_million_requests
    )
    return [_line("Requests", Decimal(requests) / MILLION, "million requests", price)]


def _always_on_lines(
    provider: str, prices: PriceTable, vcpus: Decimal, gib: Decimal, running: Decimal
) -> list[CostLine]:
    """ECS on Fargate / Kubernetes: every running task or pod is billed for its whole lifetime."""
    hours = running * prices.hours_per_month
    if provider == "aws":
        cpu_rate, memory_rate, memory_unit = (
            prices.fargate_vcpu_hour,
            prices.fargate_gb_hour,
            "GB-h",
        )
    else:
        cpu_rate, memory_rate, memory_unit = (
            prices.kubernetes_vcpu_hour,
            prices.kubernetes_gib_hour,
            "GiB-h",
        )
    if not hours:
        return []
    return [
        _line("CPU", hours * vcpus, "vCPU-h", cpu_rate),
        _line("Memory", hours * gib, memory_unit, memory_rate),
    ]


def estimate_from_usage(provider: str, usage: UsageSample, prices: PriceTable) -> Decimal:
    """Spend for measured usage, all at the active rate, rounded to cents (free tiers ignored)."""
    _check_provider(provider)
    vcpu_s = to_decimal(usage.vcpu_seconds, field="usage.vcpu_seconds")
    gib_s = to_decimal(usage.gib_seconds, field="usage.gib_seconds")
    if usage.instance_seconds and not vcpu_s and not gib_s:
        raise CostInputError(
            "usage", "has instance time but no vCPU/GiB seconds; give the service's cpu and memory"
        )
    requests = Decimal(usage.requests) / MILLION
    if provider == "gcp":
        total = (
            vcpu_s * prices.cloud_run_vcpu_second
            + gib_s * prices.cloud_run_gib_second
            + requests * prices.cloud_run_per_million_requests
        )
    elif provider == "azure":
        total = (
            vcpu_s * prices.container_apps_vcpu_second
            + gib_s * prices.container_apps_gib_second
            + requests * prices.container_apps_per_million_requests
        )
    elif provider == "aws":
        total = (
            vcpu_s * prices.fargate_vcpu_hour + gib_s * prices.fargate_gb_hour
        ) / SECONDS_PER_HOUR
    else:
        total = (
            vcpu_s * prices.kubernetes_vcpu_hour + gib_s * prices.kubernetes_gib_hour
        ) / SECONDS_PER_HOUR
    return _cents(total)


def forecast_month(spend_to_date: Decimal, as_of: date) -> Decimal:
    """Month-end spend at the current run rate: spend / days elapsed x days in the month.

    `as_of` counts as a full day elapsed (spend is assumed to cover the 1st through `as_of`);
    linear on purpose: simple to explain, and the clouds' own forecasts are shown when they exist.
    """
    spend = to_decimal(spend_to_date, field="spend_to_date")
    if spend < 0:
        raise CostInputError("spend_to_date", f"must not be negative, got {spend}")
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    return _cents(spend / as_of.day * days_in_month)
