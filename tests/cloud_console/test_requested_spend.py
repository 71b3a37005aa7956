"""Month-to-date cost from requested capacity counts from when the service started, not the 1st.

Before, a Kubernetes deployment created minutes ago showed tens of dollars "so far this month"
(requested CPU/memory x instances x every hour since the 1st), labelled as measured usage.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fleet.budgets import spend
from fleet.budgets.costs import month_cost
from fleet.budgets.models import ServiceSpend

pytestmark = pytest.mark.django_db


def _created(kubernetes, when: str) -> None:
    deployment = kubernetes.fake.objects["deployments"][("mcp", kubernetes.service.resource)]
    deployment["metadata"]["creationTimestamp"] = when


def test_a_deployment_created_minutes_ago_costs_minutes_not_the_month(kubernetes):
    now = timezone.now()
    _created(kubernetes, (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))

    spend.ingest(now=now)

    row = ServiceSpend.objects.get(service=kubernetes.service)
    figure = month_cost(kubernetes.service.pk)

    assert row.source == "requested"
    assert row.amount < Decimal("0.10")  # 2 replicas x 500m/256Mi for a few minutes
    assert "requested CPU/memory" in figure.source_label


def test_a_deployment_older_than_the_month_is_counted_from_the_first(kubernetes):
    _created(kubernetes, "2020-01-01T00:00:00Z")
    now = timezone.now()
    if now.day == 1 and now.hour < 2:
        pytest.skip("too early in the month to tell the two apart")

    spend.ingest(now=now)

    row = ServiceSpend.objects.get(service=kubernetes.service)
    assert row.amount >= Decimal("0.10")
