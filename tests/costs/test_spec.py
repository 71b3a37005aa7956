"""A budget spec refuses bad input with errors that name the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fleet.costs.errors import CostInputError
from fleet.costs.money import ISO_4217_CODES
from fleet.costs.spec import BudgetSpec
from fleet.costs.thresholds import ThresholdRule


def spec(**changes) -> BudgetSpec:
    fields = {"display_name": "fleet: payments", "amount": Decimal(100), "currency": "USD"}
    return BudgetSpec(**{**fields, **changes})


@pytest.mark.parametrize("amount", [Decimal(0), Decimal("-0.01"), "-5", "abc", "NaN"])
def test_amount_must_be_a_positive_number(amount):
    with pytest.raises(CostInputError) as err:
        spec(amount=amount)
    assert err.value.field == "amount"


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", "", "EURO"])
def test_currency_must_be_iso_4217(currency):
    with pytest.raises(CostInputError, match="ISO 4217") as err:
        spec(currency=currency)
    assert err.value.field == "currency"


def test_common_currencies_are_known():
    assert {"USD", "EUR", "GBP", "JPY", "CHF", "INR", "BRL", "AUD"} <= ISO_4217_CODES


def test_amount_as_text_is_read_exactly():
    assert spec(amount="250.50").amount == Decimal("250.50")


def test_threshold_outside_range_fails_before_the_spec_exists():
    with pytest.raises(CostInputError, match="between 1 and 1000"):
        spec(thresholds=(ThresholdRule(Decimal(1500)),))


def test_duplicate_thresholds_are_refused():
    rule = ThresholdRule(Decimal(80))
    with pytest.raises(CostInputError) as err:
        spec(thresholds=(rule, ThresholdRule(Decimal("80.0"))))
    assert err.value.field == "thresholds"


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_display_name_must_be_set_and_short(name):
    with pytest.raises(CostInputError) as err:
        spec(display_name=name)
    assert err.value.field == "display_name"
