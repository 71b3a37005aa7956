"""Audit evidence from budgets: which budgets cover a service, wherever they were made.

A budget counts when it covers the service's spending: a console budget whose scope includes the
service, or a budget read from the cloud's own budget API (Cloud Billing Budgets for the account's
billing account, AWS Budgets for the account, Azure Cost Management's budgets of the subscription
and of the apps' resource groups) whose filter covers it: no project/tag filter (the whole billing
account or AWS account), the service's project, and no label/tag filter or one the service's
resource carries; for Azure, the budget's scope and its ResourceGroupName / ResourceId /
ResourceLocation dimensions and tags (fleet/costs/azure_budgets.py). Each cloud is listed once per
account per audit run (Azure: once per subscription and once per resource group of its apps).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from checks.audits.evidence import BUDGET_COVERAGE, Observation, Provenance
from checks.audits.gather import ReadContext, reader
from fleet.budgets import clients
from fleet.budgets.services import budgets_covering
from fleet.costs import aws_budgets, azure_budgets, gcp_budgets
from fleet.costs.errors import CostSyncError
from fleet.costs.spec import SyncedBudget
from fleet.models import CloudAccount, Service

# Why a platform's own budgets are not read (so a missing console budget decides nothing).
UNREAD_BUDGETS = {
    "kubernetes": (
        "a Kubernetes cluster has no budget API, and budgets of the cloud account that bills "
        "the cluster are not matched to its workloads; a console budget covering it decides"
    ),
}


def _covers(budget: SyncedBudget, account: CloudAccount, labels: dict[str, str]) -> bool:
    if budget.projects and account.project not in budget.projects:
        return False  # a project filter naming other projects (or project numbers we cannot map)
    return all(labels.get(key) == value for key, value in budget.labels.items())


Found = list[SyncedBudget] | list[azure_budgets.AzureBudget] | None


def _app_where(service: Service, read: Any) -> azure_budgets.AppWhere:
    """Where a Container App's spending is booked: its ARM id, resource group, region, tags."""
    snapshot = read.snapshot if read is not None else None
    raw = (snapshot.raw or {}) if snapshot is not None else {}
    app_id = raw.get("id") or ""
    parts = app_id.split("/")
    group = parts[4] if len(parts) > 4 else service.account.resource_group
    return azure_budgets.AppWhere(
        id=app_id,
        group=group or "",
        location=(snapshot.region if snapshot is not None else "") or raw.get("location") or "",
        tags=dict(snapshot.labels) if snapshot is not None else {},
    )


def _azure_budgets(account: CloudAccount, groups: list[str]) -> tuple[Found, str, str]:
    """Budgets of the subscription and of the apps' resource groups (one list per scope)."""
    if not account.subscription:
        return None, "", f"account {account.name} has no subscription id to list budgets"
    where = f"Azure Cost Management budgets of subscriptions/{account.subscription}"
    try:
        client = clients.azure_consumption_client(account)
        return azure_budgets.list_budgets(client, account.subscription, groups), where, ""
    except Exception as exc:  # a refusal, the transport, or no credential: said, never raised
        if getattr(exc, "status_code", None) == 403:
            return None, where, f"permission {azure_budgets.ACTION} missing (403)"
        return None, where, f"listing budgets failed ({type(exc).__name__}: {exc})"[:300]


def _covering(budget: Any, service: Service, read: Any) -> bool:
    if isinstance(budget, azure_budgets.AzureBudget):
        return budget.covers(_app_where(service, read))
    labels = read.snapshot.labels if read is not None and read.snapshot is not None else {}
    return _covers(budget, service.account, labels)


def _name(budget: Any) -> str:
    return budget.name if isinstance(budget, azure_budgets.AzureBudget) else budget.display_name


def _cloud_budgets(account: CloudAccount) -> tuple[Found, str, str]:
    """(budgets, where they were read, why not) for one account."""
    if account.provider == "gcp":
        if not account.billing_account:
            return None, "", f"account {account.name} has no billing account id to list budgets"
        where = f"Cloud Billing Budgets billingAccounts/{account.billing_account}"
        client = clients.gcp_budgets_client(account)
        fetch = lambda: gcp_budgets.list_budgets(account.billing_account, client=client)  # noqa: E731
    elif account.provider == "aws":
        if not account.account_id:
            return None, "", f"account {account.name} has no AWS account id to list budgets"
        where = f"AWS Budgets for account {account.account_id}"
        client = clients.aws_budgets_client(account)
        fetch = lambda: aws_budgets.list_budgets(account.account_id, client=client)  # noqa: E731
    elif account.provider in UNREAD_BUDGETS:
        # No cloud budget API is read for these: "no console budget" is not "no budget".
        return None, "", UNREAD_BUDGETS[account.provider]
    else:
        return [], "", ""
    try:
        return fetch(), where, ""
    except CostSyncError as exc:
        return None, where, f"listing budgets failed ({exc})"


@reader(BUDGET_COVERAGE)
def budget_coverage(context: ReadContext) -> Mapping[int, Observation | str]:
    by_account: dict[int, list[Service]] = defaultdict(list)
    for service in context.services:
        if service.account_id:
            by_account[service.account_id].append(service)
    cloud: dict[int, tuple[Found, str, str]] = {}
    accounts = CloudAccount.objects.in_bulk(list(by_account))
    for account in accounts.values():
        if account.provider == "azure":
            groups = [_app_where(s, context.clouds.get(s.pk)).group for s in by_account[account.pk]]
            cloud[account.pk] = _azure_budgets(account, [g for g in groups if g])
        else:
            cloud[account.pk] = _cloud_budgets(account)
    console = budgets_covering(context.services, {pk: a.name for pk, a in accounts.items()})
    answers: dict[int, Observation | str] = {}
    for service in context.services:
        own = [b.name for b in console[service.pk]]
        found, where, why = cloud.get(service.account_id, ([], "", ""))
        read = context.clouds.get(service.pk)
        covering = [_name(b) for b in found or [] if _covering(b, service, read)]
        sources = ["console budgets"] + ([where] if where and found is not None else [])
        origin = Provenance(" and ".join(sources), context.read_at)
        if own or covering:
            names = [f"{n} (console)" for n in own] + [f"{n} (cloud)" for n in covering]
            answers[service.pk] = Observation(True, origin, f"covered by {', '.join(names)}")
        elif found is None:
            answers[service.pk] = f"no console budget covers it and {why}"
        else:
            seen = f"{len(found)} cloud budget(s) read, none covering it" if where else ""
            answers[service.pk] = Observation(
                False, origin, "; ".join(x for x in ("no console budget covers it", seen) if x)
            )
    return answers
