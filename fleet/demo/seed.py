"""The demo's history, made the way a user makes it: through the console's own service functions.

`seed_demo_history()` runs in `manage.py up` after the demo fleet is registered on its four
emulated clouds and before the workers start. It calls what the pages and the API call (save a
channel, check now, redeploy, refresh spend, save a budget, run an audit), and runs the Celery
tasks they queue in this process, so the history is there at the first login. Nothing is
inserted behind the console's back: the incidents come from real probes of real servers, the
redeploy from a rollout on an emulator, the spend from the clouds' own descriptions and metrics.

Each step is skipped when its result is already there, so a second `up` adds nothing twice
(the channel only follows the receiver to its new port).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import ROUND_UP, Decimal

from django.conf import settings

from checks.audits.models import AuditRun
from checks.audits.services import create_run
from checks.models import Incident
from checks.sweep_db import check_all, check_now
from console.jobs import enqueue
from console.notifications.models import AlertChannel
from console.notifications.services import save_channel
from fleet.budgets.costs import month_costs
from fleet.budgets.models import Budget
from fleet.budgets.services import save_budget
from fleet.budgets.tasks import ingest_spend_task
from fleet.demo import aws, gcp
from fleet.models import HealthStatus, Service
from fleet.operations.clouds.pacing import Pacing
from fleet.operations.models import Redeploy
from fleet.operations.services import request_redeploy

ACTOR = "demo"  # how the audit log names who did it
SOURCE = "cli"
CHANNEL = "demo-webhook"
WARMING = "docs"  # loads its index at start: down, then up again (a resolved incident)
WARM_UP_REQUESTS = 8
BROKEN = "reports"  # its /healthz fails: an open incident
REDEPLOYED = "weather"  # a past redeploy (Cloud Run)
OVER_BUDGET_TEAM = "platform"  # its budget is sized so that the 50 % threshold is crossed
MAX_CHECKS = 16
DEMO_PACING = Pacing(poll_interval_s=0.2, poll_max_interval_s=0.5, backoff_initial_s=0.2)

Log = Callable[[str], None]


@contextmanager
def tasks_in_this_process() -> Iterator[None]:
    """Run the tasks the service functions queue right here, as the test settings do, and poll
    the emulators' operations briskly (they finish in a poll or two; a real cloud takes longer,
    which is what the default pace is for)."""
    from console.celery import app

    eager, pacing = app.conf.task_always_eager, getattr(settings, "FLEET_CLOUD_PACING", None)
    app.conf.task_always_eager = True
    settings.FLEET_CLOUD_PACING = DEMO_PACING
    try:
        yield
    finally:
        app.conf.task_always_eager = eager
        settings.FLEET_CLOUD_PACING = pacing


@contextmanager
def _quiet() -> Iterator[None]:
    """The tasks' own progress logging stays out of `up`'s output; errors still show."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def warm_up_args() -> list[str]:
    """Demo-server arguments: docs warms up only until its recovery has been seen once."""
    if Incident.objects.filter(service__name=WARMING).exists():
        return []
    return ["--warm-up", f"{WARMING}={WARM_UP_REQUESTS}"]


def seed_demo_history(*, webhook_url: str, log: Log = print) -> list[str]:
    """Make what is missing of the demo's history; returns one line per thing made."""
    made: list[str] = []
    with tasks_in_this_process(), _quiet():
        made += _channel(webhook_url)
        made += _health()
        made += _redeploy()
        made += _budgets()
        made += _audit()
    for line in made:
        log(f"  demo: {line}")
    return made


def _channel(url: str) -> list[str]:
    channel = AlertChannel.objects.filter(name=CHANNEL).first()
    if channel is not None and channel.target == url:
        return []
    spec = {"name": CHANNEL, "type": "webhook", "target": url, "enabled": True}
    save_channel(actor=ACTOR, source=SOURCE, spec=spec, instance=channel)
    return [f"alert channel {CHANNEL} → {url}" + (" (moved)" if channel else "")]


def _health() -> list[str]:
    """A first check of every service, then checks of docs and reports until they move."""
    check_all()
    made = []
    warming = Service.objects.get(name=WARMING)
    if not Incident.objects.filter(service=warming).exists():
        _check_until(warming, HealthStatus.DOWN)
        if _check_until(warming, HealthStatus.UP):
            made.append(f"incident on {WARMING}: down while loading its index, then resolved")
    broken = Service.objects.get(name=BROKEN)
    open_incident = Incident.objects.filter(service=broken, closed_at=None).exists()
    if not open_incident and _check_until(broken, HealthStatus.DOWN):
        made.append(f"incident on {BROKEN}: open (its /healthz answers 503)")
    return made


def _check_until(service: Service, status: str) -> bool:
    for _ in range(MAX_CHECKS):
        service.refresh_from_db()
        if service.status == status:
            return True
        check_now(service)
    service.refresh_from_db()
    return service.status == status


def _redeploy() -> list[str]:
    service = Service.objects.select_related("account").get(name=REDEPLOYED)
    if Redeploy.objects.filter(service=service, status="succeeded").exists():
        return []
    redeploy, _ = request_redeploy(
        service, ACTOR, reason="roll the demo's weather server onto fresh instances", source=SOURCE
    )
    redeploy.refresh_from_db()
    return [
        f"redeploy #{redeploy.pk} of {service.name} on {service.account.name}: {redeploy.status}"
    ]


def _refresh_spend() -> None:
    enqueue("Ingest budget spend", ingest_spend_task)


def _team_spend() -> dict[str, Decimal]:
    """Month-to-date cost per team, from the one cost figure every page shows."""
    services = list(Service.objects.exclude(team=""))
    figures = month_costs([s.pk for s in services])
    totals: dict[str, Decimal] = {}
    for service in services:
        figure = figures.get(service.pk)
        amount = figure.month_to_date if figure and figure.known else Decimal(0)
        totals[service.team] = totals.get(service.team, Decimal(0)) + amount
    return totals


def _nice(amount: Decimal) -> Decimal:
    """Round up to two significant digits, at least a cent: 7.31 → 7.40, 1234 → 1300.00."""
    cent = Decimal("0.01")
    step = max(Decimal(1).scaleb(amount.adjusted() - 1), cent) if amount > 0 else cent
    rounded = (amount / step).quantize(Decimal(1), rounding=ROUND_UP) * step
    return max(rounded, cent).quantize(cent)


def _budgets() -> list[str]:
    """A monthly budget per team, sized from this month's spend so far: one team's at 60 %
    (its 50 % threshold crossed and alerted), the others' at 25 % or less."""
    _refresh_spend()
    made = []
    for team, spent in sorted(_team_spend().items()):
        name = f"{team}-monthly"
        if Budget.objects.filter(name=name).exists():
            continue
        amount = _nice(spent / Decimal("0.6") if team == OVER_BUDGET_TEAM else spent * 4)
        spec = {
            "name": name,
            "scope": "team",
            "scope_value": team,
            "amount": str(amount),
            "currency": "USD",
            "thresholds": [50, 90, 100],
            "channels": [CHANNEL],
            **_cloud_notifications(team),
        }
        save_budget(actor=ACTOR, source=SOURCE, spec=spec)
        made.append(f"budget {name}: {amount} USD a month ({spent:.2f} spent so far)")
    if made:
        _refresh_spend()  # the new budgets' spend, and the crossed threshold's alert
    return made


def _cloud_notifications(team: str) -> dict[str, str]:
    """Where the clouds' own copies of a team's budget alert (their budget APIs notify a topic)."""
    providers = set(Service.objects.filter(team=team).values_list("account__provider", flat=True))
    topics = {}
    if "gcp" in providers:
        topics["gcp_pubsub_topic"] = f"projects/{gcp.PROJECT}/topics/budget-alerts"
    if "aws" in providers:
        topics["aws_sns_topic_arn"] = f"arn:aws:sns:{aws.REGION}:{aws.AWS_ACCOUNT_ID}:budget-alerts"
    return topics


def _audit() -> list[str]:
    fleet_runs = AuditRun.objects.filter(service=None, scope_label="fleet")
    if fleet_runs.filter(status=AuditRun.State.SUCCEEDED).exists():
        return []
    run = create_run(actor=ACTOR, trigger=AuditRun.Trigger.MANUAL)
    run.refresh_from_db()
    return [f"fleet audit #{run.pk}: {run.status}, overall {run.scores.get('overall')} %"]
