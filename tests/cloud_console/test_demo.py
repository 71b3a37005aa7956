"""The quickstart's demo cloud: a seeded Kubernetes fake the demo fleet file points at."""

from __future__ import annotations

import pytest

from fleet.demo.cloud import DEMO_ACCOUNT, DEPLOYMENTS, start_demo_cloud, with_demo_cloud
from fleet.demo.fleet import demo_fleet
from fleet.demo.servers import DEMO_ORDER
from fleet.fleetfile import import_fleet
from fleet.models import Service
from fleet.operations import services as cs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_cloud():
    cloud = start_demo_cloud(rollout_gets=2)
    yield cloud
    cloud.stop()


def test_demo_fleet_lives_in_the_demo_cloud_and_redeploys(
    demo_cloud, healthy_url, operator, django_capture_on_commit_callbacks
):
    ports = {name: 9100 + i for i, name in enumerate(DEMO_ORDER)}
    import_fleet(with_demo_cloud(demo_fleet(ports, DEPLOYMENTS), demo_cloud.endpoint), actor="up")

    services = Service.objects.select_related("account").order_by("name")
    assert {(s.name, s.account.name, s.resource) for s in services} == {
        (name, DEMO_ACCOUNT, name) for name in DEPLOYMENTS
    }
    notes = services.get(name="notes")
    assert notes.account.namespace == "demo" and notes.account.endpoint == demo_cloud.endpoint
    found = {r.key: r.registered.name for r in cs.discover(notes.account)}
    assert found == {name: name for name in DEPLOYMENTS}

    Service.objects.filter(pk=notes.pk).update(url=healthy_url)  # a live server for the probe
    notes.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = cs.request_redeploy(notes, operator, reason="try the demo")
    redeploy.refresh_from_db()
    assert redeploy.status == "succeeded", redeploy.error
    assert (redeploy.revision_before, redeploy.revision_after) == ("1", "2")
    snapshot = notes.cloud_snapshot
    assert snapshot.data["image"] == "ghcr.io/example/mcp-notes:1.0.0"
    assert snapshot.data["scaling"]["min_instances"] == 2
