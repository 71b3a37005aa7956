"""State changes to budgets: one atomic block each, with its audit-log row, syncs sent on commit.

The form, the API and the fleet file all come through `save_budget`, so one set of rules applies.
A "spec" is the plain shape of a budget: name, scope, scope_value, amount, currency, thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from console import limits
from console.audit import record_action
from console.jobs import enqueue
from console.notifications.models import AlertChannel, ChannelType
from fleet import validation
from fleet.budgets.models import (
    Budget,
    CloudBudget,
    PriceOverride,
    Scope,
    SyncStatus,
    default_thresholds,
)
from fleet.costs.errors import CostInputError
from fleet.costs.money import validate_amount, validate_currency
from fleet.costs.pricing import PriceTable, price_table
from fleet.costs.thresholds import ThresholdRule
from fleet.models import CloudAccount, Service

BUDGET_FIELDS = (
    "name",
    "scope",
    "scope_value",
    "amount",
    "currency",
    "thresholds",
    "channels",
    "gcp_pubsub_topic",
    "gcp_notification_channels",
    "aws_sns_topic_arn",
)
SYNCED_FIELDS = tuple(f for f in BUDGET_FIELDS if f != "channels")
PUBSUB_TOPIC_RE = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/topics/[A-Za-z][\w.~+%-]{2,254}$"
)
MONITORING_CHANNEL_RE = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[A-Za-z0-9_-]{1,100}$"
)
MAX_MONITORING_CHANNELS = 5  # Billing Budgets' NotificationsRule allows 5 channels
SNS_TOPIC_RE = re.compile(
    r"^arn:aws[a-z-]*:sns:[a-z0-9-]{1,30}:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)
# The providers with a budget API; budgets for other services live in the console only.
CLOUD_BUDGET_PROVIDERS = ("gcp", "aws")


def budget_state(budget: Budget, channels: list[AlertChannel] | None = None) -> dict:
    """The budget as a spec (what export writes, the API returns and the audit log stores).

    `channels` overrides the stored ones (a budget being saved has not set its M2M yet).
    """
    if channels is None:
        channels = list(budget.channels.all()) if budget.pk else []
    return {
        "name": budget.name,
        "scope": budget.scope,
        "scope_value": budget.scope_value,
        "amount": f"{budget.amount:f}",
        "currency": budget.currency,
        "thresholds": [dict(r) for r in budget.thresholds],
        "channels": sorted(c.name for c in channels),
        "gcp_pubsub_topic": budget.gcp_pubsub_topic,
        "gcp_notification_channels": list(budget.gcp_notification_channels or []),
        "aws_sns_topic_arn": budget.aws_sns_topic_arn,
    }


def services_in_scope(budget: Budget) -> QuerySet[Service]:
    """The services a budget covers."""
    return Service.objects.filter(_scope_q(budget.scope, budget.scope_value))


def _scope_q(scope: str, value: str) -> Q:
    if scope == Scope.SERVICE:
        return Q(name=value)
    if scope == Scope.TEAM:
        return Q(team=value)
    if scope == Scope.ENVIRONMENT:
        return Q(environment=value)
    if scope == Scope.ACCOUNT:
        return Q(account__name=value)
    return Q()


def budget_covers(service: Service) -> bool:
    """Whether any budget covers this service (the audits' "has a budget alert" rule asks)."""
    return bool(budgets_for(service))


def budgets_for(service: Service, budgets: Iterable[Budget] | None = None) -> list[Budget]:
    """Every budget whose scope includes this service (of `budgets`, or of all budgets)."""
    return [
        b
        for b in (Budget.objects.all() if budgets is None else budgets)
        if (b.scope == Scope.FLEET)
        or (b.scope == Scope.SERVICE and b.scope_value == service.name)
        or (b.scope == Scope.TEAM and b.scope_value == service.team)
        or (b.scope == Scope.ENVIRONMENT and b.scope_value == service.environment)
        or (
            b.scope == Scope.ACCOUNT
            and service.account_id is not None
            and b.scope_value == service.account.name
        )
    ]


def budgets_covering(
    services: list[Service], account_names: dict[int, str]
) -> dict[int, list[Budget]]:
    """Per service id, the console budgets whose scope includes it (one query for all)."""
    budgets = list(Budget.objects.all())
    found: dict[int, list[Budget]] = {}
    for service in services:
        account = account_names.get(service.account_id) if service.account_id else None
        found[service.pk] = [
            b
            for b in budgets
            if b.scope == Scope.FLEET
            or (b.scope == Scope.SERVICE and b.scope_value == service.name)
            or (b.scope == Scope.TEAM and b.scope_value == service.team)
            or (b.scope == Scope.ENVIRONMENT and b.scope_value == service.environment)
            or (b.scope == Scope.ACCOUNT and account is not None and b.scope_value == account)
        ]
    return found


def parse_threshold_rules(value: Any) -> list[dict]:
    """Rules from a list of {"percent", "basis"} mappings or strings like "90" / "forecast:100".

    Raises ValidationError on the "thresholds" field, naming the rule that is wrong.
    """
    if value is None:
        return default_thresholds()
    if isinstance(value, str):
        value = [part for part in value.replace("\n", ",").split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ValidationError({"thresholds": "must be a list of rules such as 90 or forecast:100."})
    rules: list[ThresholdRule] = []
    for item in value:
        try:
            rules.append(_rule(item))
        except CostInputError as exc:
            message = str(exc).split(": ", 1)[-1]
            raise ValidationError({"thresholds": f"{_show(item)}: {message}"}) from exc
    keys = [r.key for r in rules]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValidationError({"thresholds": f"rule {duplicates[0]} appears twice."})
    if not rules:
        raise ValidationError({"thresholds": "at least one threshold rule is needed."})
    rules.sort(key=lambda r: (r.basis, r.percent))
    return [{"percent": f"{r.percent.normalize():f}", "basis": r.basis} for r in rules]


def _show(item: Any) -> str:
    if isinstance(item, dict):
        return f"{item.get('basis', 'actual')}:{item.get('percent')}"
    return str(item).strip()


def _rule(item: Any) -> ThresholdRule:
    if isinstance(item, dict):
        unknown = set(item) - {"percent", "basis"}
        if unknown:
            raise CostInputError("thresholds", f"unknown key {sorted(unknown)[0]!r}")
        if item.get("percent") in (None, ""):
            raise CostInputError("thresholds", "percent is required")
        return ThresholdRule(item["percent"], item.get("basis") or "actual")
    text = str(item).strip().rstrip("%").strip()
    basis, _, percent = text.rpartition(":")
    return ThresholdRule(percent.strip().rstrip("%"), basis.strip() or "actual")


def prepare_budget(spec: dict, instance: Budget | None = None) -> Budget:
    """Apply a spec to a budget (new or existing) and validate it; does not save."""
    budget = instance or Budget()
    errors: dict[str, str] = {}
    budget.name = (spec.get("name") or "").strip()
    try:
        validation.validate_name(budget.name)
        if len(budget.name) > 54:
            raise ValidationError({"name": "must be at most 54 characters."})
        clash = Budget.objects.filter(name=budget.name).exclude(pk=budget.pk).exists()
        if clash:
            raise ValidationError({"name": f"A budget named '{budget.name}' already exists."})
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    budget.scope = spec.get("scope") or ""
    budget.scope_value = (spec.get("scope_value") or "").strip()
    _check_scope(budget, errors)
    try:
        budget.amount = validate_amount(spec.get("amount"))
        # The range first: quantize() itself fails on a number too long for the context.
        if problem := limits.number_problem(budget.amount, limits.BOUNDS["amount"]):
            raise CostInputError("amount", problem)
        if budget.amount != budget.amount.quantize(Decimal("0.01")):
            raise CostInputError("amount", "has more than 2 decimal places")
        budget.amount = budget.amount.quantize(Decimal("0.01"))  # "250" and "250.00" are equal
    except CostInputError as exc:
        errors["amount"] = str(exc).split(": ", 1)[-1]
    budget.currency = (spec.get("currency") or "").strip().upper()
    try:
        validate_currency(budget.currency)
    except CostInputError as exc:
        errors["currency"] = str(exc).split(": ", 1)[-1]
    try:
        budget.thresholds = parse_threshold_rules(spec.get("thresholds"))
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    try:
        budget.chosen_channels = parse_channels(spec.get("channels"))
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    budget.gcp_pubsub_topic = _topic(spec, "gcp_pubsub_topic", PUBSUB_TOPIC_RE, errors)
    budget.aws_sns_topic_arn = _topic(spec, "aws_sns_topic_arn", SNS_TOPIC_RE, errors)
    budget.gcp_notification_channels = _monitoring_channels(spec, errors)
    if errors:
        raise ValidationError(errors)
    return budget


def _email_channels(channels) -> set[str]:
    return {c.name for c in channels if c.type == ChannelType.EMAIL}


def _topic(spec: dict, field: str, pattern: re.Pattern, errors: dict[str, str]) -> str:
    value = spec.get(field) or ""
    if not isinstance(value, str):
        errors[field] = "must be text."
        return ""
    value = value.strip()
    if value and not pattern.match(value):
        shape = (
            "projects/PROJECT/topics/TOPIC"
            if field.startswith("gcp")
            else ("arn:aws:sns:REGION:ACCOUNT_ID:TOPIC")
        )
        errors[field] = f"'{value[:80]}' is not a topic name; use {shape}."
        return ""
    return value


def _monitoring_channels(spec: dict, errors: dict[str, str]) -> list[str]:
    """Cloud Monitoring channel names (a list, or a comma-separated string), at most 5."""
    field = "gcp_notification_channels"
    value = spec.get(field) or []
    if isinstance(value, str):
        value = [part for part in value.replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[field] = "must be a list of channel names."
        return []
    names = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    for name in names:
        if not MONITORING_CHANNEL_RE.match(name):
            errors[field] = (
                f"'{name[:80]}' is not a notification channel; use "
                "projects/PROJECT/notificationChannels/ID."
            )
            return []
    if len(names) > MAX_MONITORING_CHANNELS:
        errors[field] = f"at most {MAX_MONITORING_CHANNELS} channels (Google Cloud's limit)."
        return []
    return names


def parse_channels(value: Any) -> list[AlertChannel]:
    """Alert channels by name (a list, or a comma-separated string); empty = route by scope.

    Raises ValidationError on the "channels" field naming the channel that does not exist.
    """
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"channels": "must be a list of alert channel names."})
    names = sorted({v.strip() for v in value if v.strip()})
    found = {c.name: c for c in AlertChannel.objects.filter(name__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise ValidationError(
            {"channels": f"No alert channel named '{missing[0]}' (see Alerts → Channels)."}
        )
    return [found[n] for n in names]


def _check_scope(budget: Budget, errors: dict[str, str]) -> None:
    if budget.scope not in Scope.values:
        errors["scope"] = f"'{budget.scope}' is not a scope; use one of {', '.join(Scope.values)}."
        return
    if budget.scope == Scope.FLEET:
        budget.scope_value = ""
        if not Service.objects.exists():
            errors["scope"] = "The fleet has no services yet, so this budget would cover nothing."
        return
    label = Scope(budget.scope).label.lower()
    if not budget.scope_value:
        errors["scope_value"] = f"Name the {label} this budget covers."
        return
    if (
        budget.scope == Scope.ACCOUNT
        and not CloudAccount.objects.filter(name=budget.scope_value).exists()
    ):
        errors["scope_value"] = f"No cloud account named '{budget.scope_value}'."
        return
    if not Service.objects.filter(_scope_q(budget.scope, budget.scope_value)).exists():
        errors["scope_value"] = f"No service matches {label} '{budget.scope_value}'."


def save_budget(*, actor: Any, source: str, spec: dict, instance: Budget | None = None) -> Budget:
    """Create or update a budget, audit-logged; a sync to the clouds is queued after commit."""
    with transaction.atomic():
        before = budget_state(instance) if instance else None
        emails_before = _email_channels(instance.channels.all()) if instance else set()
        budget = prepare_budget(spec, instance)
        if budget.pk is None and getattr(actor, "pk", None):
            budget.created_by = actor
        after = budget_state(budget, budget.chosen_channels)
        if before == after:
            return budget
        # Email channels are AWS notification subscribers: changing them is a cloud change too.
        cloud_side_changed = (
            before is None
            or any(before[f] != after[f] for f in SYNCED_FIELDS)
            or emails_before != _email_channels(budget.chosen_channels)
        )
        if cloud_side_changed:
            budget.sync_status, budget.sync_reason = SyncStatus.PENDING, ""
        budget.save()
        budget.channels.set(budget.chosen_channels)
        record_action(
            actor,
            "update" if before else "create",
            budget,
            source=source,
            before=before,
            after=after,
        )
        if cloud_side_changed:
            request_sync(budget, actor=actor)
    return budget


def request_sync(budget: Budget, *, actor: Any = None, force: bool = False):
    """Queue a sync of the budget to its clouds; returns the Job row the UI can poll."""
    from fleet.budgets.tasks import sync_budget_task

    return enqueue(
        f"Sync budget {budget.name}" + (" (overwrite cloud changes)" if force else ""),
        sync_budget_task,
        user=actor,
        obj=budget,
        args=(budget.pk,),
        kwargs={"force": force},
    )


def sync_budget(*, actor: Any, source: str, budget: Budget, force: bool = False):
    """A user asked for a sync now (force = overwrite changes made in the cloud); audit-logged."""
    with transaction.atomic():
        record_action(
            actor,
            "sync",
            budget,
            source=source,
            detail="overwrite cloud-side changes" if force else "",
        )
        return request_sync(budget, actor=actor, force=force)


def delete_budget(*, actor: Any, source: str, budget: Budget) -> None:
    """Delete the budget here; its cloud copies are deleted by a task after commit."""
    from fleet.budgets.tasks import delete_cloud_budgets_task

    copies = [
        [cb.account_id, cb.provider_budget_id]
        for cb in CloudBudget.objects.filter(budget=budget).exclude(provider_budget_id="")
    ]
    with transaction.atomic():
        record_action(actor, "delete", budget, source=source, before=budget_state(budget))
        if copies:
            enqueue(
                f"Delete cloud copies of budget {budget.name}",
                delete_cloud_budgets_task,
                user=actor,
                args=(copies,),
            )
        budget.delete()


def current_prices() -> PriceTable:
    """The price table: `fleet.costs.pricing` defaults with the admin's overrides merged over."""
    override = PriceOverride.objects.filter(pk=1).first()
    return price_table(override.prices if override else None)


def save_price_overrides(*, actor: Any, source: str, prices: dict) -> PriceOverride:
    """Set the price overrides (admin), validated against the price table, audit-logged."""
    try:
        price_table(prices)
    except CostInputError as exc:
        raise ValidationError({"prices": str(exc)}) from exc
    with transaction.atomic():
        override, _ = PriceOverride.objects.get_or_create(pk=1)
        before = dict(override.prices)
        override.prices = prices
        override.updated_by = actor if getattr(actor, "pk", None) else None
        override.save()
        record_action(actor, "update", override, source=source, before=before, after=prices)
    return override
