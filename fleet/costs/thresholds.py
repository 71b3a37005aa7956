"""Budget threshold rules and the decision which alerts to send now.

A rule fires when spend reaches `percent` of the budget amount, on actual spend or on the
month-end forecast, and only once per budget period: the caller keeps the keys of the alerts
already sent for the current period (see `period_key`) and passes them back in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from console import limits
from fleet.costs.errors import CostInputError
from fleet.costs.money import to_decimal, validate_amount

Basis = Literal["actual", "forecast"]
# The clouds allow alerts well past 100 % (runaway spend); the range lives in console.limits.
MIN_PERCENT = Decimal(limits.BOUNDS["threshold.percent"].low)
MAX_PERCENT = Decimal(limits.BOUNDS["threshold.percent"].high)


@dataclass(frozen=True)
class ThresholdRule:
    """Alert when spend on `basis` reaches `percent` % of the budget."""

    percent: Decimal
    basis: Basis = "actual"

    def __post_init__(self) -> None:
        percent = to_decimal(self.percent, field="threshold.percent")
        if not MIN_PERCENT <= percent <= MAX_PERCENT:
            raise CostInputError(
                "threshold.percent",
                f"must be between {MIN_PERCENT} and {MAX_PERCENT}, got {self.percent}",
            )
        if self.basis not in ("actual", "forecast"):
            raise CostInputError(
                "threshold.basis", f"must be 'actual' or 'forecast', got {self.basis!r}"
            )
        object.__setattr__(self, "percent", percent)

    @property
    def key(self) -> str:
        """Stable identity of this rule within a period, e.g. "forecast:100"."""
        return f"{self.basis}:{self.percent.normalize():f}"

    @property
    def fraction(self) -> float:
        """The percent as the fraction Google's API wants (0.5 = 50 %)."""
        return float(self.percent / 100)


def period_key(day: date) -> str:
    """The monthly budget period a day belongs to, e.g. "2026-11"."""
    return f"{day.year:04d}-{day.month:02d}"


def crossed_thresholds(
    amount: Decimal,
    actual: Decimal,
    forecast: Decimal | None,
    rules: Sequence[ThresholdRule],
    already_alerted: Iterable[str],
) -> list[ThresholdRule]:
    """Rules reached by spend and not yet alerted this period, lowest percent first.

    `forecast` None means no forecast is known yet, so forecast rules cannot fire.
    """
    amount = validate_amount(amount, field="amount")
    actual = to_decimal(actual, field="actual")
    sent = set(already_alerted)
    fired = []
    for rule in rules:
        spend = actual if rule.basis == "actual" else forecast
        if spend is None or rule.key in sent:
            continue
        if to_decimal(spend, field=rule.basis) >= amount * rule.percent / 100:
            fired.append(rule)
    return sorted(fired, key=lambda r: (r.percent, r.basis))
