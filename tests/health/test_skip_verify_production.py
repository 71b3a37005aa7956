"""A service that skips TLS verification cannot be moved to production: the form, the API and the
fleet file refuse the environment change naming the `environment` field and why, and nothing is
stored half-changed. A fleet file that turns `tls_skip_verify` off in the same entry may move it."""

from __future__ import annotations

import pytest

from checks.models import CheckConfig
from console.models import AuditLogEntry
from fleet.fleetfile import FleetFileError, import_fleet
from fleet.models import Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"
SAYS = "tls_skip_verify"


@pytest.fixture
def skipping() -> Service:
    """A staging service whose probes skip verification (set as the settings page would)."""
    service = ServiceFactory(name="moving", environment="staging", url="https://moving.test/mcp")
    CheckConfig.objects.create(service=service, tls_skip_verify=True)
    return service


def unchanged(service: Service) -> None:
    service.refresh_from_db()
    assert service.environment == "staging"
    assert CheckConfig.objects.get(service=service).tls_skip_verify is True
    assert not AuditLogEntry.objects.filter(object_type="service", action="update").exists()


def test_the_api_refuses_production_while_skipping_verification_naming_environment(
    operator_client, skipping
):
    response = operator_client.patch(
        f"{API}/services/moving", {"environment": "production"}, "application/json"
    )
    assert response.status_code == 422, response.content
    detail = {d["loc"][-1]: d["msg"] for d in response.json()["detail"]}
    assert SAYS in detail["environment"] and "production" in detail["environment"]
    unchanged(skipping)


@pytest.mark.parametrize("environment", ["prod", "", "LIVE"])
def test_the_form_refuses_production_while_skipping_verification_naming_environment(
    operator_client, skipping, environment
):
    data = {
        "name": "moving",
        "kind": "mcp_server",
        "url": skipping.url,
        "transport": "streamable-http",
        "environment": environment,
    }
    response = operator_client.post("/services/moving/edit/", data)
    assert response.status_code == 422
    form = response.context["form"]
    assert SAYS in " ".join(form.errors["environment"])
    unchanged(skipping)


def test_the_fleet_file_refuses_it_and_stores_nothing_of_the_file(skipping):
    text = """
services:
  - name: newcomer
    url: https://newcomer.test/mcp
  - name: moving
    url: https://moving.test/mcp
    environment: production
"""
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="otto")
    assert any(
        e.startswith("services[1] (moving): environment: ") and SAYS in e for e in exc.value.errors
    ), exc.value.errors
    assert not Service.objects.filter(name="newcomer").exists()
    unchanged(skipping)


def test_a_fleet_file_entry_that_turns_skip_verify_off_may_move_to_production(skipping):
    text = """
services:
  - name: moving
    url: https://moving.test/mcp
    environment: production
    checks: {tls_skip_verify: false}
"""
    import_fleet(text, actor="otto")
    skipping.refresh_from_db()
    assert skipping.environment == "production"
    assert CheckConfig.objects.get(service=skipping).tls_skip_verify is False
    assert AuditLogEntry.objects.filter(action="tls_skip_verify_off").exists()


def test_a_fleet_file_entry_that_keeps_skip_verify_on_names_the_check_setting(skipping):
    text = """
services:
  - name: moving
    url: https://moving.test/mcp
    environment: production
    checks: {tls_skip_verify: true}
"""
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="otto")
    assert any("checks.tls_skip_verify:" in e for e in exc.value.errors), exc.value.errors
    unchanged(skipping)


def test_after_turning_skip_verify_off_the_api_moves_it_to_production(operator_client, skipping):
    settings = operator_client.patch(
        f"{API}/services/moving/checks/settings", {"tls_skip_verify": False}, "application/json"
    )
    assert settings.status_code == 200
    moved = operator_client.patch(
        f"{API}/services/moving", {"environment": "production"}, "application/json"
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["environment"] == "production"


def test_other_edits_of_a_non_production_skipping_service_still_save(operator_client, skipping):
    response = operator_client.patch(
        f"{API}/services/moving", {"team": "payments"}, "application/json"
    )
    assert response.status_code == 200, response.content
