"""Budget tasks run by the Celery worker: sync to the clouds, delete cloud copies, ingest spend.

Each takes ids, re-fetches its rows and returns quietly if they are gone; each run is a Job row.
"""

from __future__ import annotations

from celery import shared_task

from console.jobs import running
from console.models import Job
from fleet.budgets import spend, sync
from fleet.budgets.models import Budget, SyncStatus
from fleet.costs.errors import CostSyncError
from fleet.models import CloudAccount


@shared_task(name="budgets.sync_budget_task")
def sync_budget_task(job_id: int, budget_id: int, force: bool = False) -> None:
    """Create or update the budget in each cloud account it covers (GCP, AWS)."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        job, log = ctx
        budget = Budget.objects.filter(pk=budget_id).first()
        if budget is None:
            log("The budget was deleted before it could be synced.")
            return
        status = sync.sync_budget(budget, force=force, log=log)
        log(f"Budget {budget.name}: {SyncStatus(status).label.lower()}.")
        if status in (SyncStatus.NOT_SYNCED, SyncStatus.DRIFTED):
            job.status, job.error = Job.Status.FAILED, budget.sync_reason


@shared_task(name="budgets.delete_cloud_budgets_task")
def delete_cloud_budgets_task(job_id: int, copies: list[list]) -> None:
    """Delete the cloud copies of a deleted budget: [[account_id, provider_budget_id], ...]."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        _job, log = ctx
        failed = []
        for account_pk, provider_budget_id in copies:
            account = CloudAccount.objects.filter(pk=account_pk).first()
            if account is None:
                log(f"Account {account_pk} is gone; {provider_budget_id} left in the cloud.")
                continue
            try:
                sync.delete_cloud_budget(account, provider_budget_id, log)
            except CostSyncError:
                failed.append(provider_budget_id)
        if failed:
            raise RuntimeError(f"Could not delete {', '.join(failed)}; delete it in the cloud.")


@shared_task(name="budgets.ingest_spend_task")
def ingest_spend_task(job_id: int | None = None) -> None:
    """Ingest month-to-date spend and forecast, then alert on crossed thresholds (periodic)."""
    if job_id is None:  # started by beat: record the run as a Job like any other
        job_id = Job.objects.create(name="Ingest budget spend").pk
    with running(job_id) as ctx:
        if ctx is None:
            return
        _job, log = ctx
        summary = spend.ingest(log=log)
        log(
            f"{summary['services']} service cost(s), {summary['budgets']} budget(s), "
            f"{summary['alerts']} alert(s) sent."
        )
