"""AWS Budgets through boto3: a monthly COST budget with alert notifications, and its spend.

Unlike Google, AWS reports spend on the budget itself (`CalculatedSpend`: actual and forecast),
so `reported_spend` reads it from there. Notifications need at least one subscriber (email or
SNS) on AWS; without subscribers none are created and the console alerts on its own
(`fleet.costs.thresholds`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions as bexc

from fleet.costs.errors import (
    DEFAULT_RETRY,
    Cause,
    CostInputError,
    CostSyncError,
    RetryPolicy,
    call_provider,
)
from fleet.costs.spec import BudgetSpec, SyncedBudget, fingerprint
from fleet.costs.thresholds import ThresholdRule

T = TypeVar("T")
_TYPE = {"actual": "ACTUAL", "forecast": "FORECASTED"}
_BASIS = {value: key for key, value in _TYPE.items()}
# Fields AWS changes by itself (spend, bookkeeping); they are not part of the definition.
_VOLATILE = ("CalculatedSpend", "LastUpdatedTime")
_CODES: dict[str, Cause] = {
    "AccessDeniedException": "permission",
    "AccessDenied": "permission",
    "UnrecognizedClientException": "permission",
    "InvalidClientTokenId": "permission",
    "ExpiredTokenException": "permission",
    "NotFoundException": "not_found",
    "ThrottlingException": "throttled",
    "Throttling": "throttled",
    "TooManyRequestsException": "throttled",
    "DuplicateRecordException": "conflict",
    "InvalidParameterException": "invalid",
    "ValidationException": "invalid",
    "CreationLimitExceededException": "invalid",
    "InternalErrorException": "server",
}


def budgets_client(
    *, endpoint: str = "", session: boto3.session.Session | None = None, region: str = "us-east-1"
) -> Any:
    """A Budgets client on the boto3 credential chain (or the given session's credentials).

    botocore's own retries are off: throttling and 5xx are retried once, by `call_provider`.
    """
    session = session or boto3.session.Session()
    config = botocore.config.Config(retries={"total_max_attempts": 1})
    return session.client(
        "budgets", region_name=region, endpoint_url=endpoint or None, config=config
    )


def _classify(exc: BaseException) -> tuple[Cause, str] | None:
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = (error.get("Message") or "").strip().splitlines()
        detail = f"{code}: {message[0] if message else ''}".strip(": ")
        if code in _CODES:
            return _CODES[code], detail
        return ("server" if status >= 500 else "other"), f"HTTP {status} {detail}"
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
        return "permission", str(exc)
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectionClosedError):
        return "unavailable", str(exc)
    if isinstance(exc, bexc.ReadTimeoutError | bexc.ConnectTimeoutError):
        return "unavailable", str(exc)
    return None


def _call(fn: Callable[[], T], operation: str, resource: str, retry: RetryPolicy) -> T:
    return call_provider(
        fn,
        provider="aws budgets",
        operation=operation,
        resource=resource,
        classify=_classify,
        retry=retry,
    )


def _check_name(name: str) -> str:
    if ":" in name or "\\" in name or "/action/" in name:
        raise CostInputError(
            "display_name", "AWS budget names cannot contain ':', '\\' or '/action/'"
        )
    return name


def _budget(spec: BudgetSpec) -> dict[str, Any]:
    budget: dict[str, Any] = {
        "BudgetName": _check_name(spec.display_name),
        "BudgetLimit": {"Amount": f"{spec.amount:f}", "Unit": spec.currency},
        "TimeUnit": "MONTHLY",
        "BudgetType": "COST",
    }
    if spec.labels:
        # Cost-allocation tags as the Budgets API spells them: "user:<key>$<value>".
        tags = [f"user:{key}${value}" for key, value in sorted(spec.labels.items())]
        budget["CostFilters"] = {"TagKeyValue": tags}
    return budget


def _notification(rule: ThresholdRule) -> dict[str, Any]:
    return {
        "NotificationType": _TYPE[rule.basis],
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": float(rule.percent),
        "ThresholdType": "PERCENTAGE",
    }


def subscriber_keys(spec: BudgetSpec) -> list[str]:
    """The spec's notification subscribers as "EMAIL:address" / "SNS:arn" (to store and compare)."""
    return [f"{s['SubscriptionType']}:{s['Address']}" for s in _subscribers(spec)]


def _subscribers(spec: BudgetSpec) -> list[dict[str, str]]:
    found = [{"SubscriptionType": "EMAIL", "Address": a} for a in spec.email_subscribers]
    if spec.sns_topic_arn:
        found.append({"SubscriptionType": "SNS", "Address": spec.sns_topic_arn})
    return found


def _notification_key(notification: dict[str, Any]) -> tuple:
    return (
        notification["NotificationType"],
        notification.get("ComparisonOperator", "GREATER_THAN"),
        Decimal(repr(float(notification["Threshold"]))),
        notification.get("ThresholdType", "PERCENTAGE"),
    )


def _to_synced(budget: dict[str, Any], notifications: list[dict[str, Any]]) -> SyncedBudget:
    limit = budget.get("BudgetLimit", {})
    thresholds = tuple(
        ThresholdRule(Decimal(repr(float(n["Threshold"]))), _BASIS[n["NotificationType"]])
        for n in notifications
        if n.get("ThresholdType", "PERCENTAGE") == "PERCENTAGE"
        and n.get("NotificationType") in _BASIS
    )
    definition = {k: v for k, v in budget.items() if k not in _VOLATILE}
    definition["Notifications"] = sorted(
        (_notification_key(n) for n in notifications), key=lambda k: (k[0], k[2])
    )
    tags = budget.get("CostFilters", {}).get("TagKeyValue", [])
    labels = dict(t.removeprefix("user:").split("$", 1) for t in tags if "$" in t)
    return SyncedBudget(
        provider="aws",
        name=budget["BudgetName"],
        display_name=budget["BudgetName"],
        amount=Decimal(limit.get("Amount", "0")),
        currency=limit.get("Unit", ""),
        thresholds=thresholds,
        fingerprint=fingerprint(definition),
        labels=labels,
        raw={**budget, "Notifications": notifications},
    )


def _describe(client: Any, account_id: str, name: str, retry: RetryPolicy) -> dict | None:
    try:
        return _call(
            lambda: client.describe_budget(AccountId=account_id, BudgetName=name)["Budget"],
            "describe",
            name,
            retry,
        )
    except CostSyncError as exc:
        if exc.cause == "not_found":
            return None
        raise


def _notifications(client: Any, account_id: str, name: str, retry: RetryPolicy) -> list[dict]:
    def fetch() -> list[dict]:
        found, token = [], None
        while True:
            extra = {"NextToken": token} if token else {}
            page = client.describe_notifications_for_budget(
                AccountId=account_id, BudgetName=name, **extra
            )
            found += page.get("Notifications", [])
            token = page.get("NextToken")
            if not token:
                return found

    return _call(fetch, "describe notifications of", name, retry)


def get_budget(
    account_id: str, budget_name: str, *, client: Any = None, retry: RetryPolicy = DEFAULT_RETRY
) -> SyncedBudget:
    """Read a budget and its notifications; compare `fingerprint` to spot cloud-side edits."""
    client = client or budgets_client()
    budget = _describe(client, account_id, budget_name, retry)
    if budget is None:
        raise _not_found(budget_name)
    return _to_synced(budget, _notifications(client, account_id, budget_name, retry))


def _not_found(name: str) -> CostSyncError:
    return CostSyncError(
        f"aws budgets: describe {name} failed: not found",
        provider="aws budgets",
        operation="describe",
        resource=name,
        cause="not_found",
    )


def upsert_budget(
    account_id: str,
    spec: BudgetSpec,
    *,
    resubscribe: bool = False,
    client: Any = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> SyncedBudget:
    """Create the budget, or update its limit/filters and add/remove notifications to match.

    AWS keeps subscribers per notification, so new notifications get the spec's subscribers and,
    with `resubscribe` (the subscribers changed, or the cloud's are being overwritten), existing
    ones are deleted and made again with them (DeleteNotification deletes its subscribers too:
    https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_DeleteNotification.html).
    A notification needs at least one subscriber (CreateNotification), so without any the
    budget's notifications are removed: the old addresses would otherwise keep being alerted.
    """
    client = client or budgets_client()
    wanted = _budget(spec)
    name = wanted["BudgetName"]
    subscribers = _subscribers(spec)
    current = _describe(client, account_id, name, retry)
    if current is None:
        notifications = [
            {"Notification": _notification(rule), "Subscribers": subscribers}
            for rule in spec.thresholds
        ]
        _call(
            lambda: client.create_budget(
                AccountId=account_id,
                Budget=wanted,
                NotificationsWithSubscribers=notifications if subscribers else [],
            ),
            "create",
            name,
            retry,
        )
    elif _limit_or_filter_changed(current, wanted):
        _call(
            lambda: client.update_budget(AccountId=account_id, NewBudget=wanted),
            "update",
            name,
            retry,
        )
    if current is not None:
        _sync_notifications(client, account_id, spec, subscribers, retry, resubscribe=resubscribe)
    return get_budget(account_id, name, client=client, retry=retry)


def _limit_or_filter_changed(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    now, new = current.get("BudgetLimit", {}), wanted["BudgetLimit"]
    if Decimal(now.get("Amount", "0")) != Decimal(new["Amount"]) or now.get("Unit") != new["Unit"]:
        return True
    if current.get("TimeUnit") != wanted["TimeUnit"]:
        return True
    return (current.get("CostFilters") or {}) != (wanted.get("CostFilters") or {})


def _sync_notifications(
    client: Any,
    account_id: str,
    spec: BudgetSpec,
    subscribers: list[dict[str, str]],
    retry: RetryPolicy,
    *,
    resubscribe: bool,
) -> None:
    name = spec.display_name
    existing = {_notification_key(n): n for n in _notifications(client, account_id, name, retry)}
    wanted = {_notification_key(_notification(r)): _notification(r) for r in spec.thresholds}
    if not subscribers:
        wanted = {}
    for key, notification in existing.items():
        if key not in wanted or resubscribe:
            _call(
                lambda n=notification: client.delete_notification(
                    AccountId=account_id, BudgetName=name, Notification=n
                ),
                "delete notification of",
                name,
                retry,
            )
    for key, notification in wanted.items():
        if key not in existing or resubscribe:
            _call(
                lambda n=notification: client.create_notification(
                    AccountId=account_id, BudgetName=name, Notification=n, Subscribers=subscribers
                ),
                "create notification of",
                name,
                retry,
            )


def reported_spend(
    account_id: str, budget_name: str, *, client: Any = None, retry: RetryPolicy = DEFAULT_RETRY
) -> tuple[Decimal, Decimal | None, str]:
    """(actual, forecast, currency) from the budget's CalculatedSpend; forecast None if absent."""
    client = client or budgets_client()
    budget = _describe(client, account_id, budget_name, retry)
    if budget is None:
        raise _not_found(budget_name)
    spend = budget.get("CalculatedSpend", {})
    actual = spend.get("ActualSpend", {})
    forecast = spend.get("ForecastedSpend")
    currency = actual.get("Unit") or budget.get("BudgetLimit", {}).get("Unit", "")
    return (
        Decimal(actual.get("Amount", "0")),
        Decimal(forecast["Amount"]) if forecast else None,
        currency,
    )


def delete_budget(
    account_id: str, budget_name: str, *, client: Any = None, retry: RetryPolicy = DEFAULT_RETRY
) -> bool:
    """Delete a budget; False when it was already gone."""
    client = client or budgets_client()
    try:
        _call(
            lambda: client.delete_budget(AccountId=account_id, BudgetName=budget_name),
            "delete",
            budget_name,
            retry,
        )
    except CostSyncError as exc:
        if exc.cause == "not_found":
            return False
        raise
    return True


def list_budgets(
    account_id: str, *, client: Any = None, retry: RetryPolicy = DEFAULT_RETRY
) -> list[SyncedBudget]:
    """Every budget of the account, made in the console or not (all pages, no notifications)."""
    client = client or budgets_client()

    def fetch() -> list[dict]:
        found, token = [], None
        while True:
            extra = {"NextToken": token} if token else {}
            page = client.describe_budgets(AccountId=account_id, MaxResults=100, **extra)
            found += page.get("Budgets", [])
            token = page.get("NextToken")
            if not token:
                return found

    return [_to_synced(b, []) for b in _call(fetch, "list budgets of", account_id, retry)]
