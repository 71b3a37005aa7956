"""Alerts and acknowledgements take their row locks in one order (group, then alert), so a
repeat of an alert arriving while someone acknowledges its cause waits instead of deadlocking.
Row locks are PostgreSQL's (SQLite locks the whole database), so these run there only."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from console.notifications import dispatch
from console.notifications.models import Alert, AlertGroup
from tests.factories import ServiceFactory
from tests.notifications.conftest import event

pytestmark = pytest.mark.django_db(transaction=True)


def _someone_waits_on_a_lock(timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


def test_a_repeat_alert_waits_for_an_acknowledgement_in_progress_instead_of_deadlocking():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlock detection are PostgreSQL's")
    notes = ServiceFactory(name="notes")
    first = dispatch.notify(event(notes))
    locked, problems = threading.Event(), []

    def acknowledge() -> None:
        # The steps acknowledging a cause takes (services.acknowledge_group): lock the group,
        # then stamp its open alerts, here with the repeat already waiting in between.
        try:
            with transaction.atomic():
                AlertGroup.objects.select_for_update().get(pk=first.group_id)
                locked.set()
                assert _someone_waits_on_a_lock(), "the repeat never reached a lock"
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '5s'")
                Alert.objects.filter(group_id=first.group_id).update(ack_note="on it")
        except Exception as exc:  # a deadlock or a lock timeout
            problems.append(exc)
            locked.set()
        finally:
            connections.close_all()

    worker = threading.Thread(target=acknowledge)
    worker.start()
    assert locked.wait(10)
    repeat = dispatch.notify(event(notes))  # the same incident reported again
    worker.join(20)

    assert problems == []
    assert repeat.pk == first.pk and repeat.event_count == 2
    assert Alert.objects.get(pk=first.pk).ack_note == "on it"
