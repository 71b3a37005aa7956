"""Which budget alerts fire, once per period, and rule validation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fleet.costs.errors import CostInputError
from fleet.costs.thresholds import ThresholdRule, crossed_thresholds, period_key

RULES = [
    ThresholdRule(Decimal(50)),
    ThresholdRule(Decimal(90)),
    ThresholdRule(Decimal(100), "forecast"),
]


def test_reached_rules_fire_lowest_first():
    # 50 % of 1000 = 500 reached by actual 500; forecast 1100 >= 1000; 90 % = 900 not reached.
    fired = crossed_thresholds(Decimal(1000), Decimal(500), Decimal(1100), RULES, set())
    assert [r.key for r in fired] == ["actual:50", "forecast:100"]


def test_each_rule_fires_once_per_period():
    first = crossed_thresholds(Decimal(1000), Decimal(500), Decimal(1100), RULES, set())
    sent = {rule.key for rule in first}

    again = crossed_thresholds(Decimal(1000), Decimal(600), Decimal(1200), RULES, sent)
    later = crossed_thresholds(Decimal(1000), Decimal(950), Decimal(1200), RULES, sent)

    assert again == []
    assert [r.key for r in later] == ["actual:90"]


def test_a_new_period_starts_with_nothing_sent():
    assert period_key(date(2026, 11, 30)) == "2026-11"
    assert period_key(date(2026, 12, 1)) == "2026-12"
    assert period_key(date(2027, 1, 5)) == "2027-01"


def test_forecast_rules_wait_for_a_forecast():
    fired = crossed_thresholds(Decimal(100), Decimal(10), None, RULES, set())
    assert fired == []


def test_runaway_spend_rule_above_100_percent():
    rules = [ThresholdRule(Decimal(250))]
    assert crossed_thresholds(Decimal(100), Decimal("249.99"), None, rules, set()) == []
    assert crossed_thresholds(Decimal(100), Decimal(250), None, rules, set()) == rules


@pytest.mark.parametrize("percent", ["0", "0.5", "1000.01", "-10", "lots"])
def test_percent_outside_1_to_1000_is_refused(percent):
    with pytest.raises(CostInputError, match="threshold.percent"):
        ThresholdRule(percent)


@pytest.mark.parametrize("percent", ["1", "1000", "33.3"])
def test_percent_bounds_are_inclusive(percent):
    assert ThresholdRule(percent).percent == Decimal(percent)


def test_unknown_basis_is_refused():
    with pytest.raises(CostInputError, match="threshold.basis"):
        ThresholdRule(Decimal(50), "budgeted")


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-5)])
def test_budget_amount_must_be_positive(amount):
    with pytest.raises(CostInputError) as err:
        crossed_thresholds(amount, Decimal(1), None, RULES, set())
    assert err.value.field == "amount"
