"""A demo-like fleet registered in the database, and helpers to run audits the way users do."""

from __future__ import annotations

import pytest

from checks.audits import services as audit_services
from checks.audits.models import AuditRun
from fleet.demo.cloud import DEPLOYMENTS
from fleet.demo.fleet import demo_fleet
from fleet.demo.servers import DEMO_ORDER
from fleet.fleetfile import import_fleet
from fleet.models import Service


@pytest.fixture
def fleet(db) -> list[Service]:
    """The demo fleet's five Kubernetes services (four MCP servers, one agent backend) on plain
    URLs."""
    ports = {name: 18100 + i for i, name in enumerate(DEMO_ORDER)}
    import_fleet(demo_fleet(ports, names=DEPLOYMENTS), actor="test")
    return list(Service.objects.order_by("name"))


@pytest.fixture
def run_audit(django_capture_on_commit_callbacks):
    """Start an audit through the service layer and let the (eager) task run after commit."""

    def run(service: Service | None = None, trigger: str = "manual", actor=None) -> AuditRun:
        with django_capture_on_commit_callbacks(execute=True):
            created = audit_services.create_run(actor=actor, trigger=trigger, service=service)
        created.refresh_from_db()
        return created

    return run


def streamed(response) -> str:
    """The text of a streamed export response (exports stream, so they have no .content)."""
    assert response.streaming, "exports are streamed"
    return b"".join(response.streaming_content).decode()
