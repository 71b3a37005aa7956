"""A small fleet with one object of every kind a URL can name, for the URL walk and the API fuzz.

Every URL the services probe points at a closed loopback port, so nothing leaves the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from checks.audits.models import Attestation, AuditRun, CustomRule
from checks.models import DriftEvent, Incident, ToolSnapshot
from console.models import ApiToken, Job
from console.notifications.models import Alert, AlertChannel, AlertGroup, Delivery, Silence
from fleet.budgets.models import Budget
from fleet.models import CloudAccount, Service
from fleet.operations.models import Redeploy, RedeployBatch
from fleet.saved_views.models import SavedView

CLOSED_PORT_URL = "http://127.0.0.1:9"


@dataclass
class Fleet:
    account: CloudAccount
    service: Service
    agent: Service
    channel: AlertChannel
    silence: Silence
    alert: Alert
    delivery: Delivery
    budget: Budget
    job: Job
    redeploy: Redeploy
    batch: RedeployBatch
    run: AuditRun
    attestation: Attestation
    custom_rule: CustomRule
    incident: Incident
    drift: DriftEvent
    tokens: dict
    saved_view: SavedView | None = None


@pytest.fixture
def fleet(db, viewer, operator, admin_user) -> Fleet:
    now = timezone.now()
    account = CloudAccount.objects.create(name="plain", provider="url")
    service = Service.objects.create(
        name="notes", url=f"{CLOSED_PORT_URL}/mcp", team="platform", account=account
    )
    agent = Service.objects.create(
        name="chatbot", kind="agent_backend", url=CLOSED_PORT_URL, team="platform"
    )
    channel = AlertChannel.objects.create(name="ops", type="webhook", target=CLOSED_PORT_URL)
    silence = Silence.objects.create(
        match_service="notes", starts_at=now, ends_at=now + timedelta(hours=1), reason="deploy"
    )
    alert = Alert.objects.create(
        kind="state",
        severity="critical",
        title="notes is down",
        dedupe_key="notes:state",
        service=service,
        service_name="notes",
        group=AlertGroup.objects.create(
            cause_key="state:service:notes",
            kind="state",
            severity="critical",
            title="notes is down",
        ),
    )
    delivery = Delivery.objects.create(
        alert=alert, channel=channel, channel_name="ops", purpose="open", payload={}
    )
    budget = Budget.objects.create(
        name="notes-monthly", scope="service", scope_value="notes", amount=Decimal("100")
    )
    job = Job.objects.create(name="fleet import", requested_by=operator)
    batch = RedeployBatch.objects.create(actor_label="otto")
    redeploy = Redeploy.objects.create(service=service, batch=batch, actor_label="otto")
    run = AuditRun.objects.create(scope_label="fleet", trigger="manual")
    attestation = Attestation.objects.create(
        service=service, rule_id="infrastructure.separate-mcp-service", by_label="otto", note="ok"
    )
    custom_rule = CustomRule.objects.create(
        rule_id="custom.pen-test", title="Pen test", rationale="Policy."
    )
    incident = Incident.objects.create(service=service, status="down")
    baseline = ToolSnapshot.objects.create(service=service, fingerprint="a", is_baseline=True)
    snapshot = ToolSnapshot.objects.create(service=service, fingerprint="b")
    drift = DriftEvent.objects.create(
        service=service, baseline=baseline, snapshot=snapshot, readable="+ tool x"
    )
    tokens = {
        user.username: ApiToken.issue(user, "walk") for user in (viewer, operator, admin_user)
    }
    return Fleet(
        account,
        service,
        agent,
        channel,
        silence,
        alert,
        delivery,
        budget,
        job,
        redeploy,
        batch,
        run,
        attestation,
        custom_rule,
        incident,
        drift,
        tokens,
        SavedView.objects.create(owner=operator, name="walk", query="team=walk"),
    )
