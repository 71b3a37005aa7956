"""Google Cloud budgets through the official Billing Budgets client: create/update, read, delete.

The Budgets API holds the amount, alert rules and scope; it does NOT report spend (Google sends
spend only in alert notifications). The console therefore estimates GCP spend from Cloud Run
usage (`fleet.costs.usage` + `fleet.costs.estimate`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import Credentials
from google.cloud.billing import budgets_v1
from google.protobuf import field_mask_pb2, json_format, struct_pb2
from google.type import money_pb2

from fleet.costs.errors import DEFAULT_RETRY, Cause, CostSyncError, RetryPolicy, call_provider
from fleet.costs.spec import BudgetSpec, SyncedBudget, fingerprint
from fleet.costs.thresholds import ThresholdRule

T = TypeVar("T")
NANOS = Decimal(1_000_000_000)
_BASIS_TO_GCP = {
    "actual": budgets_v1.ThresholdRule.Basis.CURRENT_SPEND,
    "forecast": budgets_v1.ThresholdRule.Basis.FORECASTED_SPEND,
}
_GCP_TO_BASIS = {value: key for key, value in _BASIS_TO_GCP.items()}
# Fields the console manages; only these go in an update mask, so other settings survive.
_MANAGED = ("display_name", "amount", "threshold_rules", "budget_filter", "notifications_rule")


def budget_client(
    *, endpoint: str = "", credentials: Credentials | None = None
) -> budgets_v1.BudgetServiceClient:
    """A client on the standard credential chain, or on REST at `endpoint` (emulators, tests)."""
    if endpoint:
        return budgets_v1.BudgetServiceClient(
            credentials=credentials, transport="rest", client_options={"api_endpoint": endpoint}
        )
    return budgets_v1.BudgetServiceClient(credentials=credentials)


def _classify(exc: BaseException) -> tuple[Cause, str] | None:
    if not isinstance(exc, gexc.GoogleAPIError):
        return None
    detail = getattr(exc, "message", None) or str(exc)
    kinds: list[tuple[type, Cause]] = [
        (gexc.Forbidden, "permission"),
        (gexc.PermissionDenied, "permission"),
        (gexc.Unauthenticated, "permission"),
        (gexc.Unauthorized, "permission"),
        (gexc.NotFound, "not_found"),
        (gexc.TooManyRequests, "throttled"),
        (gexc.ResourceExhausted, "throttled"),
        (gexc.Conflict, "conflict"),
        (gexc.Aborted, "conflict"),
        (gexc.ServiceUnavailable, "unavailable"),
        (gexc.ServerError, "server"),
        (gexc.InvalidArgument, "invalid"),
        (gexc.BadRequest, "invalid"),
        (gexc.RetryError, "unavailable"),  # api_core gave up reaching the endpoint
    ]
    for kind, cause in kinds:
        if isinstance(exc, kind):
            return cause, detail
    return "other", detail


def _call(fn: Callable[[], T], operation: str, resource: str, retry: RetryPolicy) -> T:
    return call_provider(
        fn,
        provider="gcp budgets",
        operation=operation,
        resource=resource,
        classify=_classify_with_transport,
        retry=retry,
    )


def _classify_with_transport(exc: BaseException) -> tuple[Cause, str] | None:
    # The REST transport lets `requests` connection errors through unwrapped.
    if isinstance(exc, requests.ConnectionError):
        return "unavailable", str(exc)
    return _classify(exc)


def _money(amount: Decimal, currency: str) -> money_pb2.Money:
    units = int(amount)  # toward zero, as google.type.Money wants units and nanos of one sign
    nanos = int((amount - units) * NANOS)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def _budget_message(spec: BudgetSpec) -> budgets_v1.Budget:
    labels = {
        key: struct_pb2.ListValue(values=[struct_pb2.Value(string_value=value)])
        for key, value in spec.labels.items()
    }
    budget = budgets_v1.Budget(
        display_name=spec.display_name,
        amount=budgets_v1.BudgetAmount(specified_amount=_money(spec.amount, spec.currency)),
        threshold_rules=[
            budgets_v1.ThresholdRule(
                threshold_percent=rule.fraction, spend_basis=_BASIS_TO_GCP[rule.basis]
            )
            for rule in spec.thresholds
        ],
        budget_filter=budgets_v1.Filter(
            projects=[f"projects/{p}" for p in spec.projects],
            labels=labels,
            calendar_period=budgets_v1.CalendarPeriod.MONTH,
        ),
    )
    if spec.pubsub_topic or spec.monitoring_channels:
        # https://cloud.google.com/billing/docs/reference/budget/rest/v1/billingAccounts.budgets#NotificationsRule
        # schemaVersion goes with pubsubTopic; monitoringNotificationChannels holds up to 5
        # Cloud Monitoring email channels, notified besides the billing account's admins.
        budget.notifications_rule = budgets_v1.NotificationsRule(
            pubsub_topic=spec.pubsub_topic,
            schema_version="1.0" if spec.pubsub_topic else "",
            monitoring_notification_channels=list(spec.monitoring_channels),
        )
    return budget


def _as_dict(budget: budgets_v1.Budget) -> dict[str, Any]:
    return json_format.MessageToDict(budgets_v1.Budget.pb(budget))


def to_synced(budget: budgets_v1.Budget) -> SyncedBudget:
    """Normalise a Budget message; the fingerprint covers everything but name and etag."""
    raw = _as_dict(budget)
    money = budget.amount.specified_amount
    amount = Decimal(money.units) + Decimal(money.nanos) / NANOS
    thresholds = tuple(
        ThresholdRule(
            percent=(Decimal(repr(rule.threshold_percent)) * 100).normalize(),
            basis=_GCP_TO_BASIS.get(rule.spend_basis, "actual"),
        )
        for rule in budget.threshold_rules
    )
    # Each label holds a list of one value in the API (a protobuf ListValue).
    labels = {
        key: str(values[0]) if values else ""
        for key, values in raw.get("budgetFilter", {}).get("labels", {}).items()
    }
    definition = {k: v for k, v in raw.items() if k not in ("name", "etag")}
    return SyncedBudget(
        provider="gcp",
        name=budget.name,
        display_name=budget.display_name,
        amount=amount,
        currency=money.currency_code,
        thresholds=thresholds,
        fingerprint=fingerprint(definition),
        etag=budget.etag,
        projects=tuple(p.removeprefix("projects/") for p in budget.budget_filter.projects),
        labels=labels,
        raw=raw,
    )


def _differing_fields(
    current: budgets_v1.Budget, wanted: budgets_v1.Budget, managed: tuple[str, ...]
) -> list[str]:
    """Managed top-level fields whose content differs (server-filled filter defaults ignored)."""
    now, new = _as_dict(current), _as_dict(wanted)
    changed = []
    for field in managed:
        camel = "".join(w.capitalize() if i else w for i, w in enumerate(field.split("_")))
        before, after = now.get(camel), new.get(camel)
        if camel == "budgetFilter" and isinstance(before, dict):
            # The API fills these in when they are left unset; they are not a difference.
            before = {
                k: v
                for k, v in before.items()
                if not (k == "creditTypesTreatment" and v == "INCLUDE_ALL_CREDITS")
            }
        if before != after:
            changed.append(field)
    return changed


def find_budget(
    billing_account: str,
    display_name: str,
    *,
    client: budgets_v1.BudgetServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> budgets_v1.Budget | None:
    """The billing account's budget with this display name, if any."""
    client = client or budget_client()
    parent = f"billingAccounts/{billing_account}"
    budgets = _call(
        lambda: list(client.list_budgets(parent=parent, retry=None)), "list", parent, retry
    )
    return next((b for b in budgets if b.display_name == display_name), None)


def upsert_budget(
    billing_account: str,
    spec: BudgetSpec,
    *,
    name: str = "",
    expected_etag: str = "",
    client: budgets_v1.BudgetServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> SyncedBudget:
    """Create the budget, or update only the fields that differ (with an update mask).

    `name` is the budget's resource name from the last sync; without it the budget is found by
    display name. `expected_etag` makes the update fail with a "conflict" CostSyncError if the
    budget was changed in the cloud since that etag was read, instead of overwriting the change.
    """
    client = client or budget_client()
    wanted = _budget_message(spec)
    if name:
        current = _call(lambda: client.get_budget(name=name, retry=None), "get", name, retry)
    else:
        current = find_budget(billing_account, spec.display_name, client=client, retry=retry)
    if current is None:
        parent = f"billingAccounts/{billing_account}"
        created = _call(
            lambda: client.create_budget(parent=parent, budget=wanted, retry=None),
            "create",
            f"{parent} budget {spec.display_name!r}",
            retry,
        )
        return to_synced(created)
    # Notification routing is left alone unless the console sets a topic or channels itself.
    managed = _MANAGED if spec.pubsub_topic or spec.monitoring_channels else _MANAGED[:-1]
    changed = _differing_fields(current, wanted, managed)
    if not changed:
        return to_synced(current)
    wanted.name = current.name
    wanted.etag = expected_etag
    mask = field_mask_pb2.FieldMask(paths=changed)
    updated = _call(
        lambda: client.update_budget(budget=wanted, update_mask=mask, retry=None),
        "update",
        current.name,
        retry,
    )
    return to_synced(updated)


def get_budget(
    name: str,
    *,
    client: budgets_v1.BudgetServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> SyncedBudget:
    """Read a budget; compare its etag/fingerprint with the stored ones to spot cloud-side edits."""
    client = client or budget_client()
    return to_synced(_call(lambda: client.get_budget(name=name, retry=None), "get", name, retry))


def delete_budget(
    name: str,
    *,
    client: budgets_v1.BudgetServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> bool:
    """Delete a budget; False when it was already gone (deleting twice is not an error)."""
    client = client or budget_client()
    try:
        _call(lambda: client.delete_budget(name=name, retry=None), "delete", name, retry)
    except CostSyncError as exc:
        if exc.cause == "not_found":
            return False
        raise
    return True


def list_budgets(
    billing_account: str,
    *,
    client: budgets_v1.BudgetServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> list[SyncedBudget]:
    """Every budget of the billing account, made in the console or not (all pages)."""
    client = client or budget_client()
    parent = f"billingAccounts/{billing_account}"
    budgets = _call(
        lambda: list(client.list_budgets(parent=parent, retry=None)), "list", parent, retry
    )
    return [to_synced(b) for b in budgets]
