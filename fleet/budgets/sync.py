"""Pushing a budget to the clouds that have budget APIs, and noticing edits made there.

One cloud budget per cloud account whose services the budget covers (GCP: filtered by project and
labels; AWS: filtered by cost-allocation tags). Before overwriting, the console reads the cloud's
budget and compares its fingerprint with the one stored at the last sync: if someone changed it
in the cloud, the budget is marked "drifted" and left alone until a user chooses to overwrite.
A failing call marks the budget "not synced" with the reason; the console's budget is untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from console.secret_refs import is_ref
from fleet.budgets import clients
from fleet.budgets.models import Budget, CloudBudget, Scope, SyncStatus
from fleet.budgets.services import CLOUD_BUDGET_PROVIDERS, services_in_scope
from fleet.costs import aws_budgets, gcp_budgets
from fleet.costs.errors import CostInputError, CostSyncError
from fleet.costs.spec import BudgetSpec, SyncedBudget
from fleet.models import CloudAccount
from fleet.operations.clouds.errors import CloudError
from fleet.operations.clouds.registry import adapter_for

DRIFT_REASON = "Changed in the cloud since last sync"
LABEL_KEYS = {Scope.TEAM: "team", Scope.ENVIRONMENT: "environment", Scope.SERVICE: "service"}


class SyncProblem(Exception):
    """The console cannot sync this budget to this account (missing setting), said plainly."""


def cloud_accounts(budget: Budget) -> list[CloudAccount]:
    """Accounts with a budget API that run services in the budget's scope."""
    ids = (
        services_in_scope(budget)
        .filter(account__provider__in=CLOUD_BUDGET_PROVIDERS)
        .values_list("account_id", flat=True)
    )
    return list(CloudAccount.objects.filter(pk__in=set(ids)).order_by("name"))


def budget_spec(budget: Budget, account: CloudAccount) -> BudgetSpec:
    """The cloud-side definition: amount, rules, and a filter for the account and the scope."""
    labels = {}
    if budget.scope in LABEL_KEYS:
        labels[LABEL_KEYS[budget.scope]] = budget.scope_value
    return BudgetSpec(
        display_name=budget.cloud_name,
        amount=budget.amount,
        currency=budget.currency,
        thresholds=tuple(budget.rules()),
        projects=(account.project,) if account.provider == "gcp" and account.project else (),
        labels=labels,
        email_subscribers=email_subscribers(budget),
        sns_topic_arn=budget.aws_sns_topic_arn,
        pubsub_topic=budget.gcp_pubsub_topic,
        monitoring_channels=tuple(budget.gcp_notification_channels or ()),
    )


def email_subscribers(budget: Budget) -> tuple[str, ...]:
    """Plain addresses of the budget's email channels (a secret reference cannot go to a cloud)."""
    found: set[str] = set()
    for channel in budget.channels.filter(type="email"):
        if is_ref(channel.target):
            continue
        found.update(a.strip() for a in channel.target.split(",") if "@" in a)
    return tuple(sorted(found))[:10]  # AWS allows 10 email subscribers per notification


def notification_gap(budget: Budget, account: CloudAccount) -> str:
    """Why the cloud will not alert by itself for this copy (the console still alerts)."""
    if account.provider == "aws" and not (email_subscribers(budget) or budget.aws_sns_topic_arn):
        return (
            "AWS will not alert by itself: give the budget an email channel or an SNS topic "
            "(the console still alerts while it runs)."
        )
    if account.provider == "gcp" and not (
        budget.gcp_pubsub_topic or budget.gcp_notification_channels
    ):
        return (
            "Google Cloud alerts only the billing account's admins by email: give the budget a "
            "Pub/Sub topic or Cloud Monitoring notification channels to route its thresholds "
            "elsewhere."
        )
    return ""


def sync_budget(budget: Budget, *, force: bool = False, log: Callable[[str], None] = print) -> str:
    """Sync every cloud copy of the budget; returns (and stores) the summary status."""
    accounts = cloud_accounts(budget)
    for account in accounts:
        copy, _ = CloudBudget.objects.get_or_create(budget=budget, account=account)
        _sync_copy(budget, copy, force=force, log=log)
    for stale in CloudBudget.objects.filter(budget=budget).exclude(account__in=accounts):
        log(f"{stale.account.name}: no service in scope any more; deleting the cloud budget")
        try:
            _delete_copy(stale.account, stale.provider_budget_id, log)
        except CostSyncError as exc:
            _store(stale, status=SyncStatus.NOT_SYNCED, reason=f"could not delete: {exc}")
            continue
        stale.delete()
    return summarise(budget)


def summarise(budget: Budget) -> str:
    """Roll the per-account states up to the budget row (worst state wins)."""
    copies = list(CloudBudget.objects.filter(budget=budget).select_related("account"))
    if not copies:
        status = SyncStatus.LOCAL
        reason = "No service in scope runs on a cloud with a budget API (Google Cloud, AWS)."
    else:
        order = [SyncStatus.NOT_SYNCED, SyncStatus.DRIFTED, SyncStatus.PENDING, SyncStatus.SYNCED]
        status = min((c.status for c in copies), key=order.index)
        reason = "; ".join(f"{c.account.name}: {c.reason}" for c in copies if c.reason)
    synced = [c.last_synced_at for c in copies if c.last_synced_at]
    Budget.objects.filter(pk=budget.pk).update(
        sync_status=status, sync_reason=reason, last_synced_at=max(synced) if synced else None
    )
    budget.sync_status, budget.sync_reason = status, reason
    return status


def _sync_copy(budget: Budget, copy: CloudBudget, *, force: bool, log) -> None:
    account = copy.account
    try:
        spec = budget_spec(budget, account)
        if account.provider == "gcp":
            synced = _sync_gcp(copy, spec, force=force)
        else:
            synced = _sync_aws(copy, spec, force=force)
    except (CostSyncError, CostInputError, SyncProblem) as exc:
        log(f"{account.name}: not synced: {exc}")
        _store(copy, status=SyncStatus.NOT_SYNCED, reason=str(exc))
        return
    if synced is None:
        log(f"{account.name}: {DRIFT_REASON.lower()}; not overwritten")
        _store(copy, status=SyncStatus.DRIFTED, reason=f"{DRIFT_REASON}; not overwritten.")
        return
    log(f"{account.name}: synced as {synced.name}")
    gap = " ".join(g for g in (label_gap(budget, account), notification_gap(budget, account)) if g)
    if gap:
        log(f"{account.name}: {gap}")
    _store(
        copy,
        status=SyncStatus.SYNCED,
        reason=gap,
        provider_budget_id=synced.name,
        etag=synced.etag,
        fingerprint=synced.fingerprint,
        last_synced_at=timezone.now(),
    )


LABEL_CHECK_LIMIT = 20  # services described per account when looking for the filter label


def label_gap(budget: Budget, account: CloudAccount) -> str:
    """Why the cloud budget will see $0: no resource in scope carries the label it filters on.

    The cloud counts only costs of resources labelled (GCP) or tagged (AWS cost-allocation tag)
    `key=value`; the services in scope are described live, so the answer is today's labels.
    Returns "" when some resource carries it, otherwise the plain reason.
    """
    if budget.scope not in LABEL_KEYS:
        return ""
    key, value = LABEL_KEYS[budget.scope], budget.scope_value
    word = "label" if account.provider == "gcp" else "tag"
    try:
        adapter = adapter_for(account.to_ref())
    except CloudError as exc:
        return f"Could not read the {word}s to check the {key}={value} filter: {exc}"
    checked, failed = [], []
    services = services_in_scope(budget).filter(account=account).order_by("name")
    for service in services[:LABEL_CHECK_LIMIT]:
        try:
            labels = adapter.describe(service.to_ref()).labels
        except CloudError as exc:
            failed.append(f"{service.name} ({exc})")
            continue
        if labels.get(key) == value:
            return ""
        checked.append(service.name)
    if not checked:
        if failed:
            return (
                f"Could not read the {word}s to check the {key}={value} filter: {'; '.join(failed)}"
            )
        return ""
    return (
        f"No resource in scope carries the {word} {key}={value} that this cloud budget filters on "
        f"(checked {', '.join(checked)}): the cloud budget will see $0 until it is added."
    )


def _store(copy: CloudBudget, **fields) -> None:
    for key, value in fields.items():
        setattr(copy, key, value)
    with transaction.atomic():
        copy.save()


def _sync_gcp(copy: CloudBudget, spec: BudgetSpec, *, force: bool) -> SyncedBudget | None:
    account = copy.account
    if not account.billing_account:
        raise SyncProblem(
            f"account {account.name} has no billing account id; set it on the account to sync"
        )
    client = clients.gcp_budgets_client(account)
    name, etag = copy.provider_budget_id, copy.etag
    if name:
        current = _read(lambda: gcp_budgets.get_budget(name, client=client))
        if current is None or current.changed_since(copy.fingerprint):
            if not force:
                return None
            name = current.name if current else ""
            etag = ""  # overwrite: the user chose the console's version
    return gcp_budgets.upsert_budget(
        account.billing_account, spec, name=name, expected_etag=etag, client=client
    )


def _sync_aws(copy: CloudBudget, spec: BudgetSpec, *, force: bool) -> SyncedBudget | None:
    account = copy.account
    if not account.account_id:
        raise SyncProblem(f"account {account.name} has no AWS account id; set it to sync")
    client = clients.aws_budgets_client(account)
    name = copy.provider_budget_id
    if name:
        current = _read(lambda: aws_budgets.get_budget(account.account_id, name, client=client))
        if (current is None or current.changed_since(copy.fingerprint)) and not force:
            return None
    wanted = aws_budgets.subscriber_keys(spec)
    # Re-made when the budget's subscribers changed since the last sync, and on an overwrite
    # (a subscriber removed in AWS leaves no trace the console can read back on every API).
    resubscribe = force or wanted != list(copy.subscribers or [])
    synced = aws_budgets.upsert_budget(
        account.account_id, spec, resubscribe=resubscribe, client=client
    )
    if name and name != synced.name:
        aws_budgets.delete_budget(account.account_id, name, client=client)  # renamed
    copy.subscribers = wanted
    return synced


def _read(fetch: Callable[[], SyncedBudget]) -> SyncedBudget | None:
    """The cloud's budget, or None when it was deleted in the cloud."""
    try:
        return fetch()
    except CostSyncError as exc:
        if exc.cause == "not_found":
            return None
        raise


def check_drift(copy: CloudBudget) -> bool:
    """Re-read a synced copy; mark it drifted if it changed in the cloud. Errors propagate."""
    account = copy.account
    if account.provider == "gcp":
        client = clients.gcp_budgets_client(account)
        current = _read(lambda: gcp_budgets.get_budget(copy.provider_budget_id, client=client))
    else:
        client = clients.aws_budgets_client(account)
        current = _read(
            lambda: aws_budgets.get_budget(
                account.account_id, copy.provider_budget_id, client=client
            )
        )
    if current is not None and not current.changed_since(copy.fingerprint):
        return False
    what = "Deleted in the cloud since last sync" if current is None else DRIFT_REASON
    _store(copy, status=SyncStatus.DRIFTED, reason=f"{what}; not overwritten.")
    return True


def _delete_copy(account: CloudAccount, provider_budget_id: str, log) -> None:
    if not provider_budget_id:
        return
    try:
        if account.provider == "gcp":
            gcp_budgets.delete_budget(
                provider_budget_id, client=clients.gcp_budgets_client(account)
            )
        elif account.provider == "aws":
            aws_budgets.delete_budget(
                account.account_id, provider_budget_id, client=clients.aws_budgets_client(account)
            )
        log(f"{account.name}: deleted cloud budget {provider_budget_id}")
    except CostSyncError as exc:
        log(f"{account.name}: could not delete cloud budget {provider_budget_id}: {exc}")
        raise


def delete_cloud_budget(account: CloudAccount, provider_budget_id: str, log) -> None:
    """Delete one cloud copy (the console's budget is already gone)."""
    _delete_copy(account, provider_budget_id, log)
