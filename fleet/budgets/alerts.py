"""Budget threshold alerts: each rule fires once per budget period, through the alerting app.

The `ThresholdAlert` row and the alert (`console.notifications.dispatch.notify`) are written in
one transaction; the unique constraint on (budget, period, rule) makes a second worker racing on
the same threshold fail its insert and send nothing.

A budget that names its alert channels is sent to those channels only; otherwise to the channels
whose routing matches the scope, like health alerts. A crossed threshold is news, not an ongoing
problem that someone can fix and close, so the alert is closed as soon as it is sent: the
alerting app's hourly reminders would otherwise repeat it until the end of the month.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.urls import reverse

from console.notifications.dispatch import notify, resolve
from console.notifications.events import AlertEvent
from fleet.budgets.models import Budget, Scope, ThresholdAlert
from fleet.costs.thresholds import ThresholdRule, crossed_thresholds, period_key
from fleet.models import Service


def check_thresholds(
    budget: Budget, actual: Decimal, forecast: Decimal | None, today: date
) -> list[ThresholdAlert]:
    """Fire the rules that spend has reached and that have not fired this period."""
    period = period_key(today)
    sent = ThresholdAlert.objects.filter(budget=budget, period=period).values_list(
        "rule_key", flat=True
    )
    fired = []
    for rule in crossed_thresholds(budget.amount, actual, forecast, budget.rules(), sent):
        spend = actual if rule.basis == "actual" else forecast
        alert = _fire(budget, period, rule, spend)
        if alert is not None:
            fired.append(alert)
    return fired


def _fire(
    budget: Budget, period: str, rule: ThresholdRule, spend: Decimal
) -> ThresholdAlert | None:
    try:
        with transaction.atomic():
            alert = ThresholdAlert.objects.create(
                budget=budget,
                period=period,
                rule_key=rule.key,
                spend=spend,
                currency=budget.currency,
            )
            event = _event(budget, period, rule, spend)
            notify(event)
            resolve(event.dedupe_key)
    except IntegrityError:
        return None  # another run fired this threshold a moment ago
    return alert


def _event(budget: Budget, period: str, rule: ThresholdRule, spend: Decimal) -> AlertEvent:
    percent = f"{rule.percent.normalize():f}"
    what = "spend" if rule.basis == "actual" else "forecast spend"
    used = (spend / budget.amount * 100).quantize(Decimal("0.1"))
    title = f"Budget {budget.name}: {what} reached {percent}% of {budget.amount} {budget.currency}"
    body = (
        f"{budget.scope_label}. {what.capitalize()} for {period}: {spend} {budget.currency} "
        f"({used}% of the monthly budget of {budget.amount} {budget.currency}); "
        f"threshold {percent}% on {rule.basis} spend."
    )
    service = None
    if budget.scope == Scope.SERVICE:
        service = Service.objects.filter(name=budget.scope_value).first()
    return AlertEvent(
        kind="budget",
        title=title,
        body=body,
        severity="critical" if rule.percent >= 100 else "warning",
        dedupe_key=f"budget:{budget.pk}:{period}:{rule.key}",
        cause=f"budget:{budget.pk}:{rule.key}",  # the same threshold, month after month
        service=service,
        team=budget.scope_value if budget.scope == Scope.TEAM else "",
        environment=budget.scope_value if budget.scope == Scope.ENVIRONMENT else "",
        url=reverse("budget-detail", args=[budget.pk]),
        # Named channels replace routing; a disabled one records "not sent: disabled".
        channels=list(budget.channels.all()) or None,
        details={
            "budget": budget.name,
            "scope": budget.scope,
            "scope_value": budget.scope_value,
            "period": period,
            "rule": rule.key,
            "spend": f"{spend}",
            "amount": f"{budget.amount}",
            "currency": budget.currency,
            "percent_used": f"{used}",
        },
    )
