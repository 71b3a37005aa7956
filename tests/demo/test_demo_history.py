"""The quickstart's demo, seeded in-process against its four emulated clouds and real servers.

`manage.py up` registers the demo fleet on Kubernetes, Cloud Run, ECS (moto) and Container Apps
emulators and makes its history through the console's own service functions. This runs that
same seeding (without a full `up`, which tests/foundation/test_up_command.py covers) and checks
what a newcomer sees: every platform, a finished audit, budgets with spend and one crossed
threshold, an open and a resolved incident, a past redeploy and alerts at the webhook receiver.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from checks.audits.models import AuditRun
from checks.models import Incident, ProbeResult
from console.management.commands.up import free_ports, wait_for_port
from console.models import AuditLogEntry
from console.notifications.models import Alert, AlertChannel, Delivery
from fleet.budgets.models import Budget
from fleet.demo.clouds import on_demo_clouds, start_demo_clouds
from fleet.demo.fleet import demo_fleet
from fleet.demo.seed import DEMO_PACING, WARM_UP_REQUESTS, seed_demo_history
from fleet.demo.servers import DEMO_ORDER
from fleet.demo.webhook import Inbox, make_handler
from fleet.fleetfile import import_fleet
from fleet.models import CloudAccount, Service
from fleet.operations import services as cs
from fleet.operations.models import Redeploy

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_servers():
    ports = free_ports(len(DEMO_ORDER))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.demo.servers", "--ports", ",".join(map(str, ports)),
         "--warm-up", f"docs={WARM_UP_REQUESTS}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert all(wait_for_port(p) for p in ports), "demo servers did not start"
        yield dict(zip(DEMO_ORDER, ports, strict=True))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def webhook_receiver(tmp_path):
    inbox = Inbox(tmp_path / "webhook.jsonl")
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(inbox))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", inbox
    server.shutdown()
    server.server_close()


@pytest.fixture
def demo_clouds(demo_servers, tmp_path, monkeypatch, settings):
    urls = {name: f"http://127.0.0.1:{port}" for name, port in demo_servers.items()}
    clouds = start_demo_clouds(urls, tmp_path / "demo")
    for key, value in clouds.env.items():
        monkeypatch.setenv(key, value)
    settings.FLEET_CLOUD_PACING = DEMO_PACING
    yield clouds
    clouds.stop()


def _counts() -> dict[str, int]:
    return {
        "audits": AuditRun.objects.count(),
        "budgets": Budget.objects.count(),
        "incidents": Incident.objects.count(),
        "redeploys": Redeploy.objects.count(),
        "channels": AlertChannel.objects.count(),
        "alerts": Alert.objects.count(),
    }


def test_the_demo_is_lived_in_on_all_four_platforms_and_seeding_twice_adds_nothing(
    demo_servers, demo_clouds, webhook_receiver, admin_client_
):
    webhook_url, inbox = webhook_receiver
    import_fleet(on_demo_clouds(demo_fleet(demo_servers), demo_clouds.accounts()), actor="up")

    made = seed_demo_history(webhook_url=webhook_url, log=lambda line: None)
    print("\n".join(made))

    # Every platform carries services, each linked to its resource.
    providers = {
        s.account.provider: s for s in Service.objects.select_related("account") if s.resource
    }
    assert set(providers) == {"kubernetes", "gcp", "aws", "azure"}
    assert not CloudAccount.objects.filter(provider="url").exists()

    # A finished fleet audit.
    fleet_run = AuditRun.objects.get(scope_label="fleet")
    assert fleet_run.status == "succeeded", fleet_run.error
    verdicts = {(r.service_name, r.rule_id): r.status for r in fleet_run.results.all()}
    assert {name for name, _ in verdicts} == set(DEMO_ORDER)
    # Decided from what each emulated cloud shows.
    assert verdicts[("weather", "security.rate-limiting")] == "pass"  # Cloud Armor, via Compute
    assert verdicts[("weather", "observability.structured-logging")] == "pass"  # Cloud Logging
    assert verdicts[("calendar", "security.least-privilege-review")] == "fail"  # Kubernetes RBAC

    # A budget per team with spend, and exactly one crossed threshold, delivered to the receiver.
    budgets = {b.scope_value: b for b in Budget.objects.all()}
    assert set(budgets) == set(Service.objects.values_list("team", flat=True))
    assert all(b.spend_actual is not None for b in budgets.values()), budgets
    crossed = Alert.objects.filter(kind="budget")
    assert crossed.count() == 1, list(crossed.values_list("title", flat=True))

    # An open and a resolved incident, from real probes.
    assert Incident.objects.filter(service__name="reports", closed_at=None).exists()
    assert Incident.objects.filter(service__name="docs").exclude(closed_at=None).exists()
    assert ProbeResult.objects.filter(service__name="docs", ok=False).exists()

    # A past redeploy that finished on an emulator.
    redeploy = Redeploy.objects.get(service__name="weather")
    assert redeploy.status == "succeeded", redeploy.error
    assert redeploy.provider == "gcp"

    # The alert channel delivered to the local receiver: the incident and the budget alert.
    assert Delivery.objects.filter(status="sent").exists()
    titles = " ".join(str(m["payload"]) for m in inbox.messages())
    assert "reports" in titles and "budget" in titles.lower()

    # Every page a newcomer opens has something on it.
    for url, marker in (
        ("/audits/", "weather"),
        ("/budgets/", "platform-monthly"),
        ("/budgets/costs.csv", "weather"),
        ("/incidents/", "reports"),
        ("/redeploys/", "weather"),
        ("/alerts/", "reports"),
        ("/alerts/channels/", "demo-webhook"),
    ):
        page = admin_client_.get(url)
        assert page.status_code == 200, url
        assert marker in page.content.decode(), url

    # On each platform, discovery finds the demo's services registered, and a redeploy from the
    # service page rolls out through that cloud's emulator.
    for account in CloudAccount.objects.all():
        found = {
            row.snapshot.resource.rsplit("/", 1)[-1]: row.registered for row in cs.discover(account)
        }
        for service in account.services.all():
            assert found.get(service.resource) == service, (account.name, service.name, found)
    for name in ("docs", "tickets", "notes"):
        service = Service.objects.get(name=name)
        rollout, _ = cs.request_redeploy(service, "demo-test", reason="try each platform")
        rollout.refresh_from_db()
        assert rollout.status == "succeeded", (name, rollout.error)
    before_redeploys = Redeploy.objects.count()

    # A second `up` adds nothing twice.
    before, log_rows = _counts(), AuditLogEntry.objects.count()
    assert seed_demo_history(webhook_url=webhook_url, log=lambda line: None) == []
    assert _counts() == before
    assert Redeploy.objects.count() == before_redeploys
    assert AuditLogEntry.objects.count() == log_rows
