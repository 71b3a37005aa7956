"""Celery tasks for the clouds: redeploys (single and rolling batch), scaling apply and sync.

Tasks take ids, re-fetch their rows and return quietly when the row is gone. Every run is a row
the UI polls: a `Redeploy` for redeploys, a console `Job` for scaling changes and syncs. A cloud
error ends the run with the error's own sentence (which names the permission and the resource);
nothing is left "running".
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import timezone

from console.audit import record_action
from console.heartbeat import current_worker
from console.jobs import running
from console.models import Job
from fleet.models import Service
from fleet.operations import cloud_state
from fleet.operations.clouds.base import CloudAdapter
from fleet.operations.clouds.errors import CloudError, InvalidRequest, Timeout
from fleet.operations.clouds.types import OperationResult, TrafficSplit
from fleet.operations.models import (
    Redeploy,
    RedeployBatch,
    RedeployStatus,
    RolloutAction,
    ScalingChange,
)

logger = logging.getLogger(__name__)

PROBE_ATTEMPTS = 3  # a fresh rollout may need a moment before it answers


class RedeployLog:
    """Progress lines saved as they come, so the page polling the row shows them live."""

    def __init__(self, redeploy: Redeploy) -> None:
        self.redeploy = redeploy

    def __call__(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.redeploy.log += f"[{stamp}] {line}\n"
        Redeploy.objects.filter(pk=self.redeploy.pk).update(log=self.redeploy.log)


def _lock_key(service_id: int) -> str:
    return f"fleet:redeploy-lock:{service_id}"


@shared_task(name="fleet.redeploy_task")
def redeploy_task(redeploy_id: int) -> None:
    """Run one queued redeploy (see `run_redeploy`)."""
    run_redeploy(redeploy_id)


def run_redeploy(redeploy_id: int) -> Redeploy | None:
    """Claim the queued redeploy, roll it out through the adapter, verify health, record it."""
    claimed = Redeploy.objects.filter(pk=redeploy_id, status=RedeployStatus.QUEUED).update(
        status=RedeployStatus.RUNNING, started_at=timezone.now(), worker=current_worker()
    )
    if not claimed:  # gone, or another worker has it (a redelivered message)
        return None
    redeploy = Redeploy.objects.select_related("service__account", "requested_by").get(
        pk=redeploy_id
    )
    key = _lock_key(redeploy.service_id)
    hold = 3 * int(cloud_state.operation_timeout_s()) + (redeploy.canary_watch_s or 0) + 300
    if not cache.add(key, redeploy_id, timeout=hold):
        return _finish(
            redeploy,
            RedeployStatus.FAILED,
            error=f"Another rollout of {redeploy.service.name} holds its lock "
            f"(#{cache.get(key)}); try again when it has finished.",
        )
    try:
        return _rollout(redeploy, RedeployLog(redeploy))
    except Exception as exc:  # never leave a redeploy "running" behind a crash
        logger.exception("redeploy %s crashed", redeploy_id)
        return _finish(
            redeploy, RedeployStatus.FAILED, error=f"Internal error: {type(exc).__name__}: {exc}"
        )
    finally:
        cache.delete(key)


def _rollout(redeploy: Redeploy, log: RedeployLog) -> Redeploy:
    """Start the rollout the row asks for, follow it, and record a truthful outcome."""
    service = redeploy.service
    account = service.account
    what = {
        RolloutAction.RELEASE: f"Releasing {redeploy.target_image} to",
        RolloutAction.CANARY: f"Canary release of {redeploy.target_image} "
        f"({redeploy.canary_percent}% for {redeploy.canary_watch_s}s) to",
        RolloutAction.ROLLBACK: "Rolling back"
        + (f" to revision {redeploy.target_revision}" if redeploy.target_revision else ""),
    }.get(redeploy.action, "Redeploying")
    log(
        f"{what} {service.name} ({redeploy.resource}) in {account.name} "
        f"({account.get_provider_display()}) by {redeploy.actor_label}"
        + (f": {redeploy.reason}" if redeploy.reason else "")
    )
    try:
        adapter = cloud_state.adapter_for_service(service)
        if redeploy.action == RolloutAction.CANARY:
            return _canary(redeploy, adapter, log)
        result = _start(redeploy, adapter, log)
    except Timeout as exc:
        log(str(exc))
        return _finish(
            redeploy,
            RedeployStatus.UNKNOWN,
            error=f"Unknown — check the cloud console: {exc}",
        )
    except CloudError as exc:
        log(f"{exc.kind}: {exc}")
        return _finish(redeploy, RedeployStatus.FAILED, error=str(exc))
    if not _record_result(redeploy, result, log):
        return _finish_unsuccessful(redeploy, result)
    log(result.message or "Rollout finished.")
    problem = _post_deploy_check(redeploy.service, log)
    _refresh_snapshot(redeploy, log)
    _audit_after(redeploy, log)
    if problem:
        return _finish(redeploy, RedeployStatus.FAILED, error=problem)
    return _finish(redeploy, RedeployStatus.SUCCEEDED)


def _start(redeploy: Redeploy, adapter: CloudAdapter, log: RedeployLog) -> OperationResult:
    ref, timeout = redeploy.service.to_ref(), cloud_state.operation_timeout_s()
    if redeploy.action == RolloutAction.RELEASE:
        return adapter.release(
            ref, _image_argument(redeploy), reason=redeploy.reason, timeout_s=timeout, progress=log
        )
    if redeploy.action == RolloutAction.ROLLBACK:
        target = redeploy.target_revision or _previous_revision(redeploy, adapter, log)
        return adapter.rollback(
            ref, target, reason=redeploy.reason, timeout_s=timeout, progress=log
        )
    return adapter.redeploy(ref, reason=redeploy.reason, timeout_s=timeout, progress=log)


def _image_argument(redeploy: Redeploy) -> str:
    """The image as the adapter takes it: `container=image` names a Kubernetes container,
    the way `kubectl set image` does."""
    if redeploy.container:
        return f"{redeploy.container}={redeploy.target_image}"
    return redeploy.target_image


def _previous_revision(redeploy: Redeploy, adapter: CloudAdapter, log: RedeployLog) -> str:
    """The newest recorded revision other than the one serving now."""
    revisions = adapter.list_revisions(redeploy.service.to_ref())
    # What the platform calls current (the Deployment's revision, the revisions Cloud Run or
    # Container Apps route to, the task definition ECS runs); after a failed release that is the
    # broken revision even while the old one still serves, and "previous" must skip it.
    current = {r.name for r in revisions if r.active} or {
        r.name for r in revisions if (r.traffic_percent or 0) > 0
    }
    earlier = [r for r in revisions if r.name not in current]
    if not earlier:
        raise InvalidRequest(
            f"{redeploy.service.name} has no earlier revision recorded to roll back to "
            f"(revisions: {', '.join(r.name for r in revisions) or 'none'}).",
            resource=redeploy.resource,
        )
    target = earlier[0]
    redeploy.target_revision = target.name
    Redeploy.objects.filter(pk=redeploy.pk).update(target_revision=target.name)
    log(
        f"The previous revision is {target.name}"
        + (f" ({target.image})" if target.image else "")
        + f"; serving now: {', '.join(sorted(current)) or 'cannot tell'}."
    )
    return target.name


def _record_result(redeploy: Redeploy, result: OperationResult, log: RedeployLog) -> bool:
    """Copy what the adapter saw onto the row; True when the rollout succeeded."""
    redeploy.operation_id = result.operation_id or redeploy.operation_id
    redeploy.revision_before = result.revision_before or redeploy.revision_before
    redeploy.revision_after = result.revision_after or redeploy.revision_after
    redeploy.image_before = result.image_before or redeploy.image_before
    redeploy.image_after = result.image_after or redeploy.image_after
    redeploy.diagnostics = list(result.diagnostics or redeploy.diagnostics or [])
    if result.status == "succeeded":
        return True
    log(result.message)
    for line in result.diagnostics:
        log(f"  {line}")
    return False


def _finish_unsuccessful(redeploy: Redeploy, result: OperationResult) -> Redeploy:
    if result.status == "unknown":
        return _finish(
            redeploy,
            RedeployStatus.UNKNOWN,
            error=f"Unknown — check the cloud console (operation {result.operation_id}). "
            f"{result.message}",
        )
    return _finish(redeploy, RedeployStatus.FAILED, error=f"The rollout failed: {result.message}")


# -- canary ---------------------------------------------------------------------------------------
def canary_probe_interval_s() -> float:
    """Seconds between health probes while a canary is watched (FLEET_CANARY_PROBE_INTERVAL_SECONDS)."""
    return float(getattr(settings, "FLEET_CANARY_PROBE_INTERVAL_SECONDS", 15))


def _canary(redeploy: Redeploy, adapter: CloudAdapter, log: RedeployLog) -> Redeploy:
    """N % to the new revision, watch its health, then promote to 100 % or put traffic back."""
    service, ref, timeout = (
        redeploy.service,
        redeploy.service.to_ref(),
        cloud_state.operation_timeout_s(),
    )
    before = [
        TrafficSplit(r.name, r.traffic_percent)
        for r in adapter.list_revisions(ref)
        if r.traffic_percent
    ]
    if not before:
        return _finish(
            redeploy,
            RedeployStatus.FAILED,
            error="Not started: the console cannot tell which revisions serve traffic now, so it "
            "could not put traffic back if the canary were unhealthy.",
        )
    log("Traffic before: " + _splits_text(before))
    result = adapter.release(
        ref,
        _image_argument(redeploy),
        reason=redeploy.reason,
        traffic_percent=redeploy.canary_percent,
        timeout_s=timeout,
        progress=log,
    )
    if not _record_result(redeploy, result, log):
        return _finish_unsuccessful(redeploy, result)
    new = result.revision_after
    log(result.message or f"Revision {new} serves {redeploy.canary_percent}% of traffic.")
    _canary_step(
        redeploy,
        "canary-start",
        before={"traffic": _splits_dict(before)},
        after={"traffic": {new: redeploy.canary_percent}, "image": redeploy.image_after},
        detail=f"{redeploy.canary_percent}% of traffic on revision {new}; watching its health "
        f"for {redeploy.canary_watch_s}s.",
    )
    problem = _watch_canary(service, redeploy.canary_watch_s or 0, log, result.probe_url)
    if problem:
        log(f"Canary unhealthy ({problem}); putting traffic back: {_splits_text(before)}")
        back = _set_traffic(adapter, ref, before, timeout, log)
        _canary_step(
            redeploy,
            "canary-rollback",
            before={"traffic": {new: redeploy.canary_percent}},
            after={"traffic": _splits_dict(before), "status": back.status},
            detail=f"Canary revision {new} was unhealthy ({problem}); traffic put back "
            f"({back.status}).",
        )
        if back.status != "succeeded":
            log(back.message)
            return _finish(
                redeploy,
                RedeployStatus.UNKNOWN if back.status == "unknown" else RedeployStatus.FAILED,
                error=f"The canary was unhealthy ({problem}) and putting traffic back "
                f"{back.status}: {back.message} Check the traffic in the cloud console now.",
            )
        _refresh_snapshot(redeploy, log)
        return _finish(
            redeploy,
            RedeployStatus.FAILED,
            error=f"Canary rolled back automatically: revision {new} was unhealthy ({problem}). "
            f"Traffic is back on {_splits_text(before)}.",
        )
    log(f"Canary healthy for {redeploy.canary_watch_s}s; promoting {new} to 100%.")
    promoted = _set_traffic(adapter, ref, [TrafficSplit(new, 100)], timeout, log)
    _canary_step(
        redeploy,
        "canary-promote",
        before={"traffic": {new: redeploy.canary_percent}},
        after={"traffic": {new: 100}, "status": promoted.status},
        detail=f"Revision {new} promoted to 100% ({promoted.status}).",
    )
    if promoted.status != "succeeded":
        log(promoted.message)
        return _finish(
            redeploy,
            RedeployStatus.UNKNOWN if promoted.status == "unknown" else RedeployStatus.FAILED,
            error=f"The canary was healthy, but promoting revision {new} to 100% "
            f"{promoted.status}: {promoted.message} It may still serve "
            f"{redeploy.canary_percent}%: check the traffic, then promote or roll back.",
        )
    log(promoted.message or f"Revision {new} serves 100% of traffic.")
    _refresh_snapshot(redeploy, log)
    _audit_after(redeploy, log)
    return _finish(redeploy, RedeployStatus.SUCCEEDED)


def _set_traffic(
    adapter: CloudAdapter, ref, splits: list[TrafficSplit], timeout: float, log: RedeployLog
) -> OperationResult:
    """A traffic change whose failure to even start is an outcome, not a crash: the canary's
    own audit rows and the run's end must still say where the traffic was left."""
    try:
        return adapter.set_traffic(ref, splits, timeout_s=timeout, progress=log)
    except CloudError as exc:
        log(f"{exc.kind}: {exc}")
        status = "unknown" if exc.retryable or isinstance(exc, Timeout) else "failed"
        return OperationResult(status=status, message=str(exc))


def _splits_text(splits: list[TrafficSplit]) -> str:
    return ", ".join(f"{s.revision or 'latest'} {s.percent}%" for s in splits)


def _splits_dict(splits: list[TrafficSplit]) -> dict:
    return {s.revision or "latest": s.percent for s in splits}


def _canary_step(redeploy: Redeploy, action: str, **kw) -> None:
    kw["after"] = {**kw.get("after", {}), "reason": redeploy.reason, "rollout": redeploy.pk}
    record_action(
        redeploy.requested_by or redeploy.actor_label,
        action,
        redeploy.service,
        source=redeploy.source,
        **kw,
    )


def _watch_canary(service, watch_s: float, log: RedeployLog, revision_url: str = "") -> str:
    """Probe the canary until `watch_s` has passed: "" if every probe passed, else the failure.

    With `revision_url` (a URL reaching the new revision alone, e.g. a Cloud Run tag URL) the
    probes go there, keeping the service URL's path; otherwise through the service URL, where
    only the canary's share of probes reaches the new revision.
    """
    from checks.probing.sweep import probe_many_sync
    from checks.targets import TargetError, config_for, target_for

    try:
        target = target_for(service, config_for(service))
    except TargetError as exc:
        return f"the health probe cannot run: {exc}"
    if revision_url:
        own, via = urlsplit(revision_url), urlsplit(target.url)
        url = urlunsplit((own.scheme, own.netloc, via.path, via.query, ""))
        target = dataclasses.replace(target, url=url)
        log(f"Canary probes go to the new revision's own URL {url}.")
    else:
        log(
            f"Canary probes go through the service URL {target.url}, which carries the split: "
            "only about the canary's share of them reaches the new revision."
        )
    deadline = time.monotonic() + watch_s
    interval = max(0.05, min(canary_probe_interval_s(), watch_s))
    count = 0
    while True:
        count += 1
        outcome = probe_many_sync([target], concurrency=1)[0]
        if not outcome.ok:
            log(f"Canary probe {count} of {target.url}: unhealthy: {outcome.error}")
            return f"probe {count} failed: {outcome.error}"
        latency = f" in {outcome.latency_ms:.0f} ms" if outcome.latency_ms is not None else ""
        log(f"Canary probe {count} of {target.url}: healthy{latency}.")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ""
        time.sleep(min(interval, remaining))


def _post_deploy_check(service, log: RedeployLog) -> str:
    """ "" when the service answers its health probe after the rollout, else why it does not."""
    from checks.probing.sweep import probe_many_sync
    from checks.targets import TargetError, config_for, target_for

    try:
        target = target_for(service, config_for(service))
    except TargetError as exc:
        return f"The rollout finished, but the post-deploy health check could not run: {exc}"
    pause = cloud_state.cloud_pacing().poll_interval_s
    outcome = None
    for attempt in range(1, PROBE_ATTEMPTS + 1):
        log(f"Post-deploy health check of {target.url} (attempt {attempt} of {PROBE_ATTEMPTS})")
        outcome = probe_many_sync([target], concurrency=1)[0]
        if outcome.ok:
            latency = f" in {outcome.latency_ms:.0f} ms" if outcome.latency_ms is not None else ""
            log(f"Healthy: the service answered{latency}.")
            return ""
        log(f"Unhealthy: {outcome.error}")
        if attempt < PROBE_ATTEMPTS:
            time.sleep(pause)
    return (
        f"The rollout finished but the service is unhealthy after it: {outcome.error} "
        "Check the new revision's logs, or roll back in the cloud console."
    )


def _refresh_snapshot(redeploy: Redeploy, log: RedeployLog) -> None:
    """Read the service again so the page shows the new revision; a failure only logs a line."""
    try:
        stored = cloud_state.sync_observed(redeploy.service, actor="system")
    except CloudError as exc:
        log(f"Could not refresh the cloud snapshot: {exc}")
        return
    if not redeploy.revision_after:
        redeploy.revision_after = stored.data.get("revision") or ""
    if redeploy.action != RolloutAction.RESTART and not redeploy.image_after:
        redeploy.image_after = stored.data.get("image") or ""


def _audit_after(redeploy: Redeploy, log: RedeployLog) -> None:
    """A rollout changes what runs: re-run the checklist audit on the service (in the background)."""
    from checks.audits.services import request_audit

    try:
        run = request_audit(
            redeploy.service, "redeploy", redeploy.requested_by or redeploy.actor_label
        )
    except Exception as exc:  # the redeploy's own outcome stands without the audit
        logger.exception("could not start the audit after redeploy %s", redeploy.pk)
        log(f"Could not start the post-redeploy audit: {exc}")
        return
    log(f"Checklist audit #{run.pk} of {redeploy.service.name} started.")


def _finish(redeploy: Redeploy, status: str, *, error: str = "") -> Redeploy:
    """Record the outcome (status, duration, error) and its audit-log row."""
    now = timezone.now()
    redeploy.status, redeploy.error, redeploy.finished_at = status, error, now
    if redeploy.started_at:
        redeploy.duration_s = round((now - redeploy.started_at).total_seconds(), 3)
    redeploy.save(
        update_fields=[
            "status",
            "error",
            "finished_at",
            "duration_s",
            "operation_id",
            "revision_before",
            "revision_after",
            "target_revision",
            "image_before",
            "image_after",
            "diagnostics",
        ]
    )
    actor = redeploy.requested_by or redeploy.actor_label
    summary = {
        RedeployStatus.SUCCEEDED: "succeeded",
        RedeployStatus.FAILED: "failed",
        RedeployStatus.UNKNOWN: "ended with an unknown outcome",
    }.get(status, status)
    restart = redeploy.action == RolloutAction.RESTART
    # The same keys before and after, so the audit log's diff reads "image X -> Y"; only a
    # succeeded rollout says what serves now.
    if status == RedeployStatus.SUCCEEDED:
        now_serving = {"revision": redeploy.revision_after, "image": redeploy.image_after}
    else:
        unverified = f"not verified: the {redeploy.label.lower()} {summary}"
        now_serving = {"revision": unverified, "image": unverified}
    if restart:
        now_serving.pop("image")
    record_action(
        actor,
        "redeploy" if restart else redeploy.action,
        redeploy.service,
        source=redeploy.source,
        before={"revision": redeploy.revision_before}
        if restart
        else {"revision": redeploy.revision_before, "image": redeploy.image_before},
        after={**redeploy.outcome, **now_serving},
        detail=f"{redeploy.label} #{redeploy.pk} {summary}"
        + (f" in {redeploy.duration_s:.1f}s" if redeploy.duration_s is not None else "")
        + (f": {error}" if error else "."),
    )
    _alert(redeploy)
    return redeploy


def _alert(redeploy: Redeploy) -> None:
    """A failed or unknown redeploy raises one alert per service; a later success closes it."""
    from console.notifications.dispatch import notify, resolve
    from console.notifications.events import AlertEvent

    service = redeploy.service
    key = f"redeploy:{service.pk}"
    try:
        if redeploy.status == RedeployStatus.SUCCEEDED:
            resolve(key)
            return
        notify(
            AlertEvent(
                kind="redeploy_failed",
                severity="critical" if redeploy.status == RedeployStatus.FAILED else "warning",
                title=f"{redeploy.label} of {service.name} {redeploy.get_status_display().lower()}",
                body=f"{redeploy.label} #{redeploy.pk} of {service.name} requested by "
                f"{redeploy.actor_label}: {redeploy.error}",
                dedupe_key=key,
                service=service,
                team=service.team,
                environment=service.environment,
                url=redeploy.get_absolute_url(),
                details={"service": service.name, **redeploy.outcome, "redeploy_id": redeploy.pk},
            )
        )
    except Exception:  # the redeploy's record stands even if alerting is broken
        logger.exception("could not raise the alert for redeploy %s", redeploy.pk)


# -- rolling batches -----------------------------------------------------------------------------
@shared_task(name="fleet.redeploy_batch_task")
def redeploy_batch_task(batch_id: int) -> None:
    """Redeploy a batch's services, at most `concurrency` at a time; stop starting new ones
    after a failure, so a bad release does not roll across the whole fleet."""
    claimed = RedeployBatch.objects.filter(pk=batch_id, status=RedeployStatus.QUEUED).update(
        status=RedeployStatus.RUNNING, started_at=timezone.now(), worker=current_worker()
    )
    if not claimed:
        return
    batch = RedeployBatch.objects.get(pk=batch_id)
    ids = list(
        batch.redeploys.filter(status=RedeployStatus.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    stopped = threading.Event()
    failed_name: list[str] = []

    def one(redeploy_id: int) -> None:
        if stopped.is_set():
            _cancel(redeploy_id, failed_name[0] if failed_name else "an earlier service")
            return
        done = run_redeploy(redeploy_id)
        if done is not None and done.status != RedeployStatus.SUCCEEDED:
            failed_name.append(done.service.name)
            stopped.set()

    def in_thread(redeploy_id: int) -> None:
        close_old_connections()
        try:
            one(redeploy_id)
        finally:
            connection.close()  # each worker thread has its own connection

    if batch.concurrency <= 1:
        for redeploy_id in ids:
            one(redeploy_id)
    else:
        with ThreadPoolExecutor(max_workers=batch.concurrency) as pool:
            list(pool.map(in_thread, ids))
    outcome = RedeployStatus.FAILED if stopped.is_set() else RedeployStatus.SUCCEEDED
    RedeployBatch.objects.filter(pk=batch_id).update(status=outcome, finished_at=timezone.now())


def _cancel(redeploy_id: int, failed: str) -> None:
    redeploy = (
        Redeploy.objects.select_related("service", "requested_by")
        .filter(pk=redeploy_id, status=RedeployStatus.QUEUED)
        .first()
    )
    if redeploy is None:
        return
    _finish(
        redeploy,
        RedeployStatus.FAILED,
        error=f"Not started: the rolling batch stopped after {failed} failed.",
    )


# -- scaling ---------------------------------------------------------------------------------------
@shared_task(name="fleet.apply_scaling_task")
def apply_scaling_task(job_id: int, service_id: int, actor: str, source: str = "ui") -> None:
    """Push desired scaling through the adapter, then read back what the cloud now has."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        job, log = ctx
        service = Service.objects.select_related("account").filter(pk=service_id).first()
        if service is None:
            log("The service was deleted before the change could be applied.")
            return
        who = job.requested_by or actor
        scaling = cloud_state.scaling_for(service)
        before = scaling.observed() if scaling.observed_at else {}
        wanted = cloud_state.settings_to_apply(scaling)
        changes = {k: v for k, v in wanted.as_dict().items() if v is not None}
        log(f"Applying {changes} to {service.resource} in {service.account.name}")
        try:
            result = cloud_state.adapter_for_service(service).apply_scaling(
                service.to_ref(), wanted, timeout_s=cloud_state.operation_timeout_s(), progress=log
            )
        except Timeout as exc:  # the change may still land: never call it failed or done
            job.status = Job.Status.UNKNOWN
            job.error = f"Unknown — check the cloud console: {exc}"
            log(str(exc))
            _scaling_outcome(who, service, source, before, changes, "unknown", str(exc))
            return
        except CloudError as exc:
            _scaling_outcome(who, service, source, before, changes, "failed", str(exc))
            raise
        if result.status == "unknown":
            job.status = Job.Status.UNKNOWN
            job.error = f"Unknown — check the cloud console: {result.message}"
            log(result.message)
            _scaling_outcome(who, service, source, before, changes, "unknown", result.message)
            return
        if result.status == "failed":
            _scaling_outcome(who, service, source, before, changes, "failed", result.message)
            raise RuntimeError(f"The scaling change failed: {result.message}")
        log(result.message or "Applied.")
        stored = cloud_state.sync_observed(service, actor="system", record_change=False)
        scaling.refresh_from_db()
        after = scaling.observed()
        ScalingChange.objects.create(
            service=service,
            kind=ScalingChange.Kind.APPLIED,
            actor=cloud_state.actor_user(who),
            actor_label=cloud_state.actor_label(who),
            before=before,
            after=after,
            detail=f"Applied {changes}; the cloud now reports revision {stored.data.get('revision') or '—'}.",
        )
        _scaling_outcome(who, service, source, before, after, "succeeded", "")
        remaining = scaling.drift()
        if remaining:
            log(f"Still different from desired after the change: {remaining}")


def _scaling_outcome(actor, service, source, before, after, status, message) -> None:
    record_action(
        actor,
        "scaling-apply",
        service,
        source=source,
        before=before or None,
        after={**after, "status": status},
        detail=f"Scaling change {status}" + (f": {message}" if message else "."),
    )


@shared_task(name="fleet.sync_service_task")
def sync_service_task(job_id: int, service_id: int) -> None:
    """Describe one service and store its snapshot (the "Refresh from cloud" button)."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        _job, log = ctx
        service = Service.objects.select_related("account").filter(pk=service_id).first()
        if service is None:
            log("The service was deleted.")
            return
        try:
            stored = cloud_state.sync_observed(service, actor="system")
        except CloudError as exc:
            cloud_state.record_sync_error(service, str(exc))
            raise
        log(f"Read {stored.resource}: revision {stored.data.get('revision') or '—'}.")


@shared_task(name="fleet.sync_scaling_task")
def sync_scaling_task() -> None:
    """Periodic: refresh every cloud-managed service's snapshot and observed scaling."""
    job = Job.objects.create(name="sync scaling from clouds")
    with running(job.pk) as ctx:
        assert ctx is not None
        job, log = ctx
        services = (
            Service.objects.select_related("account")
            .exclude(account=None)
            .exclude(account__provider="url")
            .exclude(resource="")
        )
        failures = 0
        total = 0
        for service in services.iterator():
            total += 1
            try:
                cloud_state.sync_observed(service, actor="system")
            except CloudError as exc:
                failures += 1
                cloud_state.record_sync_error(service, str(exc))
                log(f"{service.name}: {exc}")
        log(f"Read {total - failures} of {total} service(s).")
        if failures:
            raise RuntimeError(f"{failures} of {total} service(s) could not be read; see the log.")
