"""Alerts written before groups existed are grouped by the migration with the same rules."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from console.notifications.models import Alert, AlertGroup
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("console.notifications.migrations.0003_alert_groups_and_acks")


def old(**fields) -> Alert:
    base = {"severity": "critical", "title": "t"}
    return Alert.objects.create(**{**base, **fields})


def test_existing_alerts_are_grouped_by_cause_and_recoveries_join_their_problem():
    notes = ServiceFactory(name="notes")
    down1 = old(kind="down", dedupe_key="incident:1", service=notes, service_name="notes")
    recovery = old(
        kind="recovered", dedupe_key="incident:1:recovered", service=notes, service_name="notes",
        resolves=down1,
    )  # fmt: skip
    down2 = old(kind="down", dedupe_key="incident:2", service=notes, service_name="notes")
    october = old(kind="budget", dedupe_key="budget:7:2026-10:actual:90")
    november = old(kind="budget", dedupe_key="budget:7:2026-11:actual:90")
    test = old(kind="test", dedupe_key="test:3:abcdef")
    orphan = old(kind="drift", dedupe_key="drift:gone:abc")

    migration.group_existing_alerts(apps, None)

    def cause(alert: Alert) -> str:
        alert.refresh_from_db()
        return alert.group.cause_key

    assert cause(down1) == cause(down2) == cause(recovery) == "down:service:notes"
    assert cause(october) == cause(november) == "budget:7:actual:90"
    assert cause(test) == "test:channel:3"
    assert cause(orphan) == "drift:key:drift:gone:abc"
    assert AlertGroup.objects.count() == 4
    assert AlertGroup.objects.get(cause_key="down:service:notes").service == notes
