"""One service with hostile stored data never stops the sweep for the rest of the fleet.

The others are real SDK servers on loopback; the hostile row is written past the validators (as a
database edit, an old release or a bug could leave it), and the failure shows on that service.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig, ProbeResult
from checks.tasks import sweep_task
from fleet.models import Service
from tests.factories import ServiceFactory
from tests.health.conftest import sdk_url  # noqa: F401  (fixture: a real SDK server)

pytestmark = pytest.mark.django_db

HOSTILE = {
    "unparseable URL": ("service", {"url": "http://[::1/mcp"}),
    "tool arguments not an object": (
        "config",
        {"tool_call_name": "add", "tool_call_arguments": ["not", "an", "object"]},
    ),
    "interval that overflows a datetime": ("config", {"interval_seconds": 10**12}),
    "counter at the database's integer limit": ("config", {"consecutive_successes": None}),
    "slow threshold that is not a number": ("config", {"slow_ms": None}),
}


def _make_hostile(service: Service, case: str) -> None:
    table, values = HOSTILE[case]
    if case == "interval that overflows a datetime" and connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's integer column cannot hold it in the first place")
    if case == "slow threshold that is not a number":
        pytest.skip("the column is NOT NULL on every backend")
    if case == "counter at the database's integer limit":
        if connection.vendor == "sqlite":
            pytest.skip("SQLite turns an overflowing integer into a float instead of refusing it")
        values = {"consecutive_successes": 2**31 - 1}
    if table == "service":
        Service.objects.filter(pk=service.pk).update(**values)
    else:
        CheckConfig.objects.filter(service=service).update(**values)


@pytest.mark.parametrize("case", [c for c in HOSTILE if "not a number" not in c])
def test_a_hostile_service_fails_alone_and_the_sweep_goes_on(
    sdk_url,  # noqa: F811
    case,
    viewer_client,
):
    client = viewer_client
    healthy = [ServiceFactory(url=sdk_url) for _ in range(3)]
    hostile = ServiceFactory(url=sdk_url, name="hostile")
    sweep_db.ensure_configs()
    _make_hostile(hostile, case)

    checked = sweep_task.delay().get()

    assert checked == 4  # every claim went out, the hostile one included
    for service in healthy:
        service.refresh_from_db()
        assert service.status == "up", service.name
        assert ProbeResult.objects.filter(service=service, ok=True).count() == 1
    hostile.refresh_from_db()
    if case == "interval that overflows a datetime":
        # its schedule is held inside the documented bounds: checked, next check within a day
        assert hostile.status == "up"
        next_at = CheckConfig.objects.get(service=hostile).next_check_at
        assert next_at - timezone.now() <= timedelta(days=1)
    elif case == "counter at the database's integer limit":
        # the probe answered, but its success cannot be counted: said on the service itself
        assert "could not be recorded" in hostile.last_error
        page = client.get(f"/services/{hostile.name}/").content.decode()
        assert "could not be recorded" in page
    else:
        assert hostile.status != "up"
        failed = ProbeResult.objects.get(service=hostile)
        assert not failed.ok and failed.error
        page = client.get(f"/services/{hostile.name}/").content.decode()
        assert failed.error[:20] in page  # the failure shows on its page
    assert sweep_db.claim_due(timezone.now() + timedelta(days=2))  # later sweeps still run
