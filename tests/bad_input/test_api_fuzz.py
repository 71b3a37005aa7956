"""Schemathesis against the live OpenAPI schema, as an operator: no request ever gets a 5xx.

Examples per operation are bounded (FUZZ_EXAMPLES, default 4): about 30 s of CPU for the whole
schema (wall time grows with machine load). Path parameters are aimed at a fixture fleet.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from console.api import api
from console.models import ApiToken

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))


@pytest.fixture
def operator_token(operator) -> str:
    return ApiToken.issue(operator, "fuzz")[1]


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calls go through the bare WSGI handler, whose request_finished signal closes the database
    connection: on PostgreSQL that would close the test's transaction under it. Django's test
    client disconnects the same handler."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _aim_at_the_fleet(case, fleet) -> None:
    """Point path parameters at real objects, so bodies reach the code behind the 404s."""
    path = case.path
    name = (
        "plain" if "/accounts/{name}" in path else "ops" if "/channels/{name}" in path else "notes"
    )
    ids = {
        "name": name,
        "redeploy_id": fleet.redeploy.pk,
        "batch_id": fleet.batch.pk,
        "run_id": fleet.run.pk,
        "budget_id": fleet.budget.pk,
        "delivery_id": fleet.delivery.pk,
        "silence_id": fleet.silence.pk,
        "view_id": fleet.saved_view.pk,
    }
    for param in list(case.path_parameters or {}):
        if param in ids:
            case.path_parameters[param] = ids[param]


# The same document /api/v1/openapi.json serves (which anonymous callers may not read).
schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_api_never_answers_5xx(case, operator_token, fleet):
    _aim_at_the_fleet(case, fleet)
    response = case.call(headers={"Authorization": f"Bearer {operator_token}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}\n"
        f"{case.as_curl_command()}"
    )
