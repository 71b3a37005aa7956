"""State changes that touch a service's deployment: redeploys, scaling, snapshots, discovery.

Each function that changes something runs in one atomic block, writes its audit-log row, and
enqueues its Celery task with `transaction.on_commit`, so a task never sees a row that was rolled
back. Cloud calls (describe, list) happen outside any transaction: a slow cloud must not hold
database locks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from console import limits
from console.audit import record_action
from console.broker import send_on_commit
from console.jobs import enqueue
from console.models import Job
from fleet import services as fleet_services
from fleet.models import CloudAccount, Service
from fleet.operations.cloud_state import (  # noqa: F401 (re-exported for views, api, releases)
    PROVIDER_NAMES,
    actor_label,
    actor_user,
    adapter_for_service,
    check_cloud_managed,
    cloud_pacing,
    operation_timeout_s,
    record_sync_error,
    scaling_for,
    settings_to_apply,
    snapshot_data,
    store_snapshot,
    sync_observed,
)
from fleet.operations.clouds.registry import adapter_for, scaling_fields_for
from fleet.operations.clouds.types import ServiceSnapshot
from fleet.operations.models import (
    IN_FLIGHT,
    SCALING_FIELDS,
    CloudSnapshot,
    Redeploy,
    RedeployBatch,
    RedeployStatus,
    ScalingChange,
    ServiceScaling,
)

MAX_REASON = 500
MAX_BATCH_CONCURRENCY = limits.BOUNDS["batch_concurrency"].high


# -- what the console can manage -----------------------------------------------------------------
def is_cloud_managed(service: Service) -> bool:
    try:
        check_cloud_managed(service)
    except ValidationError:
        return False
    return True


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"reason": f"Keep the reason under {MAX_REASON} characters (got {len(reason)})."}
        )
    return reason


# -- redeploys ------------------------------------------------------------------------------------
def in_flight_redeploy(service: Service) -> Redeploy | None:
    return Redeploy.objects.filter(service=service, status__in=IN_FLIGHT).first()


REQUEST_VERBS = {
    "restart": "Redeploy",
    "release": "Release",
    "canary": "Canary release",
    "rollback": "Rollback",
}


def _create_redeploy(
    service: Service,
    actor: Any,
    reason: str,
    source: str,
    batch: RedeployBatch | None,
    **fields: Any,
) -> tuple[Redeploy, bool]:
    """Inside an atomic block: the new queued rollout, or the one already in flight.

    `fields` set what kind of rollout it is (action, target_image, target_revision, canary…);
    without them it is a plain redeploy (restart of the same image).
    """
    existing = in_flight_redeploy(service)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():  # a savepoint: the unique constraint may refuse a racing twin
            redeploy = Redeploy.objects.create(
                service=service,
                batch=batch,
                requested_by=actor_user(actor),
                actor_label=actor_label(actor),
                source=source,
                reason=reason,
                provider=service.account.provider,
                resource=service.resource,
                revision_before=_known_revision(service),
                image_before=_known_image(service),
                **fields,
            )
    except IntegrityError:
        existing = in_flight_redeploy(service)
        if existing is None:
            raise
        return existing, False
    action = redeploy.action
    verb = REQUEST_VERBS.get(action, "Redeploy")
    after = {"redeploy": redeploy.pk, "reason": reason, "batch": batch.pk if batch else None}
    after.update({k: v for k, v in fields.items() if k != "action" and v not in (None, "")})
    record_action(
        actor,
        "redeploy-request" if action == "restart" else f"{action}-request",
        service,
        source=source,
        before={"revision": redeploy.revision_before, "image": redeploy.image_before}
        if action != "restart"
        else None,
        after=after,
        detail=f"{verb} #{redeploy.pk} requested" + (f": {reason}" if reason else "."),
    )
    return redeploy, True


def _known_image(service: Service) -> str:
    snapshot = CloudSnapshot.objects.filter(service=service).only("data").first()
    return (snapshot.data.get("image") or "") if snapshot else ""


def _known_revision(service: Service) -> str:
    snapshot = CloudSnapshot.objects.filter(service=service).only("data").first()
    return (snapshot.data.get("revision") or "") if snapshot else ""


def request_redeploy(
    service: Service, actor: Any, reason: str = "", source: str = "ui"
) -> tuple[Redeploy, bool]:
    """Queue a redeploy; returns (redeploy, created). A second request gets the one in flight."""
    check_cloud_managed(service)
    reason = _clean_reason(reason)
    from fleet.operations.tasks import redeploy_task

    with transaction.atomic():
        redeploy, created = _create_redeploy(service, actor, reason, source, None)
        if created:
            send_on_commit(
                redeploy_task,
                redeploy.pk,
                on_failure=lambda why: fail_unsent_redeploys([redeploy.pk], why),
            )
    return redeploy, created


def fail_unsent_redeploys(redeploy_ids: Sequence[int], reason: str) -> None:
    """End redeploys whose task never reached a worker, so the service can be redeployed again."""
    Redeploy.objects.filter(pk__in=redeploy_ids, status=RedeployStatus.QUEUED).update(
        status=RedeployStatus.FAILED, error=f"Not started: {reason}", finished_at=timezone.now()
    )


def _fail_unsent_batch(batch: RedeployBatch, reason: str) -> None:
    fail_unsent_redeploys(list(batch.redeploys.values_list("pk", flat=True)), reason)
    RedeployBatch.objects.filter(pk=batch.pk, status=RedeployStatus.QUEUED).update(
        status=RedeployStatus.FAILED, finished_at=timezone.now()
    )


def request_batch_redeploy(
    services: Sequence[Service],
    actor: Any,
    reason: str = "",
    concurrency: int = 1,
    source: str = "ui",
) -> tuple[RedeployBatch, list[Redeploy]]:
    """Queue a rolling redeploy of `services`, at most `concurrency` at once.

    Returns the batch and the redeploys that were already in flight (left alone, not repeated).
    """
    reason = _clean_reason(reason)
    if not services:
        raise ValidationError({"services": "Select at least one service to redeploy."})
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_BATCH_CONCURRENCY:
        raise ValidationError(
            {
                "concurrency": f"Concurrency must be a whole number from 1 to "
                f"{MAX_BATCH_CONCURRENCY} (got {concurrency})."
            }
        )
    for service in services:
        check_cloud_managed(service, field="services")
    from fleet.operations.tasks import redeploy_batch_task

    with transaction.atomic():
        batch = RedeployBatch.objects.create(
            requested_by=actor_user(actor),
            actor_label=actor_label(actor),
            reason=reason,
            concurrency=concurrency,
        )
        already: list[Redeploy] = []
        queued: list[str] = []
        for service in services:
            redeploy, created = _create_redeploy(service, actor, reason, source, batch)
            (queued.append(service.name) if created else already.append(redeploy))
        record_action(
            actor,
            "redeploy-batch",
            batch,
            source=source,
            after={"services": queued, "concurrency": concurrency, "reason": reason},
            detail=f"Rolling redeploy of {len(queued)} service(s), {concurrency} at a time"
            + (
                f"; already in flight: {', '.join(r.service.name for r in already)}"
                if already
                else ""
            ),
        )
        if queued:
            send_on_commit(
                redeploy_batch_task, batch.pk, on_failure=lambda why: _fail_unsent_batch(batch, why)
            )
        else:
            batch.status, batch.finished_at = "succeeded", timezone.now()
            batch.save(update_fields=["status", "finished_at"])
    return batch, already


# -- snapshots and observed scaling ----------------------------------------------------------------
def request_sync(service: Service, actor: Any) -> Job:
    """Queue a describe of one service (the "Refresh from cloud" button)."""
    check_cloud_managed(service)
    from fleet.operations.tasks import sync_service_task

    with transaction.atomic():
        job = enqueue(
            f"sync {service.name} from cloud",
            sync_service_task,
            user=actor_user(actor),
            obj=service,
            args=(service.pk,),
        )
    return job


# -- desired scaling ------------------------------------------------------------------------------
_K8S_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_GCP_MEMORY = re.compile(r"^(\d+)(Mi|Gi)$")
_AZURE_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)Gi$")
_AWS_CPU = ("256", "512", "1024", "2048", "4096", "8192", "16384")
_GCP_CPU = ("1", "2", "4", "6", "8", "1000m", "2000m", "4000m", "6000m", "8000m")


def _int_field(values: dict, field: str, errors: dict) -> int | None:
    low, high = limits.BOUNDS[field].low, limits.BOUNDS[field].high
    value = values.get(field)
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        errors[field] = "Must be a whole number."
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        shown = str(value) if len(str(value)) <= 30 else f"{str(value)[:27]}..."
        errors[field] = f"'{shown}' is not a whole number."
        return None
    if not low <= number <= high:
        errors[field] = f"Must be between {low} and {high} (got {number})."
        return None
    return number


def _gcp_cpu(cpu: str) -> str:
    if cpu in _GCP_CPU:
        return ""
    try:
        number = int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)
    except ValueError:
        number = -1
    if 0.08 <= number < 1:
        return ""
    return f"'{cpu}' is not a Cloud Run CPU limit: use 1, 2, 4, 6 or 8, or a fraction from 0.08 to 1 (e.g. 0.5 or 500m)."


def _gcp_memory(memory: str) -> str:
    match = _GCP_MEMORY.match(memory)
    mib = int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1) if match else 0
    if not 128 <= mib <= 32768:
        return f"'{memory}' is not a Cloud Run memory limit: use 128Mi to 32Gi, e.g. 512Mi or 2Gi."
    return ""


def _aws_cpu(cpu: str) -> str:
    if cpu not in _AWS_CPU:
        return f"'{cpu}' is not a Fargate task CPU: use CPU units {', '.join(_AWS_CPU)} (1024 = 1 vCPU)."
    return ""


def _aws_memory(memory: str) -> str:
    if not memory.isdigit() or not 512 <= int(memory) <= 122880:
        return f"'{memory}' is not a Fargate task memory: give MiB as a number from 512 to 122880, e.g. 2048."
    return ""


def _azure_cpu(cpu: str) -> str:
    try:
        number = float(cpu)
    except ValueError:
        number = -1
    if not (0.25 <= number <= 4 and round(number / 0.25, 6).is_integer()):
        return f"'{cpu}' is not a Container Apps CPU: use 0.25 to 4 in steps of 0.25, e.g. 0.5."
    return ""


def _azure_memory(memory: str) -> str:
    match = _AZURE_MEMORY.match(memory)
    number = float(match.group(1)) if match else -1
    if not (0.5 <= number <= 8 and round(number / 0.5, 6).is_integer()):
        return f"'{memory}' is not a Container Apps memory size: use 0.5Gi to 8Gi in steps of 0.5Gi, e.g. 1Gi."
    return ""


def _azure_pairing(cpu: str, memory: str) -> dict[str, str]:
    if float(memory.removesuffix("Gi")) == 2 * float(cpu):
        return {}
    return {
        "memory": f"Container Apps pairs memory with CPU as 2Gi per CPU: cpu {cpu} "
        f"needs memory {2 * float(cpu):g}Gi."
    }


def _k8s_quantity(kind: str) -> Any:
    def check(value: str) -> str:
        if not _K8S_QUANTITY.match(value):
            example = "500m or 1" if kind == "cpu" else "256Mi or 1Gi"
            return f"'{value}' is not a Kubernetes quantity: use e.g. {example}."
        return ""

    return check


_FORMAT_RULES = {
    "gcp": (_gcp_cpu, _gcp_memory),
    "aws": (_aws_cpu, _aws_memory),
    "azure": (_azure_cpu, _azure_memory),
    "kubernetes": (_k8s_quantity("cpu"), _k8s_quantity("memory")),
}
_NO_CONCURRENCY = {
    "aws": "ECS has no per-task request concurrency setting; leave it empty.",
    "kubernetes": "a Kubernetes Deployment has no per-pod request concurrency setting; leave it empty.",
}


def validate_scaling(provider: str, values: dict, observed: dict | None = None) -> dict:
    """Desired scaling for `provider`, cleaned; ValidationError names each bad field."""
    errors: dict[str, str] = {}
    unknown = sorted(set(values) - set(SCALING_FIELDS))
    if unknown:
        errors[unknown[0]] = f"Unknown scaling field; use {', '.join(SCALING_FIELDS)}."
    low = _int_field(values, "min_instances", errors)
    high = _int_field(values, "max_instances", errors)
    concurrency = _int_field(values, "concurrency", errors)
    if low is not None and high is not None and low > high:
        errors["min_instances"] = f"Min instances ({low}) must not exceed max instances ({high})."
    current_max = (observed or {}).get("max_instances")
    if low is not None and high is None and current_max is not None and low > current_max:
        errors["min_instances"] = (
            f"Min instances ({low}) is above the current max ({current_max}); "
            "set max instances too."
        )
    if concurrency is not None and provider in _NO_CONCURRENCY:
        errors["concurrency"] = _NO_CONCURRENCY[provider]
    cleaned: dict[str, Any] = {
        "min_instances": low,
        "max_instances": high,
        "concurrency": concurrency,
    }
    cpu_rule, memory_rule = _FORMAT_RULES[provider]
    for field, rule in (("cpu", cpu_rule), ("memory", memory_rule)):
        value = str(values.get(field) or "").strip()
        cleaned[field] = value or None
        if value and (problem := rule(value)):
            errors[field] = problem
    if provider == "azure" and (cleaned["cpu"] or cleaned["memory"]) and not errors:
        # One of the pair may come from what the app has now: Azure checks the total.
        cpu = cleaned["cpu"] or (observed or {}).get("cpu")
        memory = cleaned["memory"] or (observed or {}).get("memory")
        if cpu and memory:
            problem = _azure_pairing(str(cpu), str(memory))
            field = "memory" if cleaned["memory"] else "cpu"
            errors.update({field: problem["memory"]} if problem else {})
    platform_fields = scaling_fields_for(provider)
    for field in ("cpu_request", "memory_request"):
        value = str(values.get(field) or "").strip()
        cleaned[field] = value or None
        if not value:
            continue
        if field not in platform_fields:
            errors[field] = (
                f"{PROVIDER_NAMES.get(provider, provider)} has no separate {field.replace('_', ' ')}"
                f": set {field.split('_')[0]} instead; leave it empty."
            )
        elif problem := _k8s_quantity(field.split("_")[0])(value):
            errors[field] = problem
    if errors:
        raise ValidationError(errors)
    return cleaned


def set_desired_scaling(
    service: Service, actor: Any, values: dict, source: str = "ui"
) -> ServiceScaling:
    """Record what an operator wants; nothing changes in the cloud until Apply."""
    check_cloud_managed(service)
    with transaction.atomic():
        scaling, _ = ServiceScaling.objects.select_for_update().get_or_create(service=service)
        observed = scaling.observed() if scaling.observed_at else None
        cleaned = validate_scaling(service.account.provider, values, observed)
        before = scaling.desired()
        for field in SCALING_FIELDS:
            value = cleaned[field]
            if field not in ("min_instances", "max_instances", "concurrency"):
                value = value or ""
            setattr(scaling, f"desired_{field}", value)
        after = scaling.desired()
        if before == after:
            return scaling
        scaling.desired_set_at, scaling.desired_set_by = timezone.now(), actor_label(actor)
        scaling.save()
        ScalingChange.objects.create(
            service=service,
            kind=ScalingChange.Kind.DESIRED,
            actor=actor_user(actor),
            actor_label=actor_label(actor),
            before=before,
            after=after,
        )
        record_action(actor, "scaling-desired", service, source=source, before=before, after=after)
    return scaling


def apply_scaling(service: Service, actor: Any, source: str = "ui") -> Job:
    """Push the desired settings that drift from the observed ones through the cloud's API."""
    check_cloud_managed(service)
    from fleet.operations.tasks import apply_scaling_task

    with transaction.atomic():
        scaling = ServiceScaling.objects.select_for_update().filter(service=service).first()
        if scaling is None or not any(v is not None for v in scaling.desired().values()):
            raise ValidationError(
                {"scaling": "Set desired scaling first: there is nothing to apply."}
            )
        wanted = {k: v for k, v in settings_to_apply(scaling).as_dict().items() if v is not None}
        if not wanted:
            raise ValidationError(
                {"scaling": "Nothing to apply: the cloud already has the desired settings."}
            )
        running = Job.objects.filter(
            name__startswith="apply scaling",
            object_type="service",
            object_id=str(service.pk),
            status__in=["queued", "running"],
        ).first()
        if running is not None:
            return running
        job = enqueue(
            f"apply scaling to {service.name}",
            apply_scaling_task,
            user=actor_user(actor),
            obj=service,
            args=(service.pk, actor_label(actor), source),
        )
        record_action(
            actor,
            "scaling-apply-request",
            service,
            source=source,
            before=scaling.observed() if scaling.observed_at else None,
            after=wanted,
            detail=f"Job #{job.pk}",
        )
    return job


# -- discovery ------------------------------------------------------------------------------------
def short_resource(resource: str) -> str:
    """The last path segment: Cloud Run full names and ECS ARNs compare by their short name."""
    return resource.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Discovered:
    """One service found in an account, with the registered service it matches (if any)."""

    snapshot: ServiceSnapshot
    registered: Service | None
    name: str
    kind: str
    url: str

    @property
    def key(self) -> str:
        return self.snapshot.resource


def _suggested(snapshot: ServiceSnapshot) -> tuple[str, str, str]:
    """Name, kind and MCP URL the console suggests for a discovered service."""
    name = re.sub(r"[^a-z0-9._-]", "-", short_resource(snapshot.resource).lower())[:63]
    labels = snapshot.labels or {}
    agent = labels.get("role") == "agent" or labels.get("fleet-kind") == "agent_backend"
    kind = "agent_backend" if agent else "mcp_server"
    url = snapshot.url.rstrip("/")
    if url and kind == "mcp_server":
        url += "/mcp"
    return name, kind, url


_LABEL_PART = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$")
_K8S_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_K8S_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def clean_label_filter(provider: str, label: str) -> str:
    """The discovery filter ("key" or "key=value"), checked before it reaches the cloud."""
    label = (label or "").strip()
    if not label:
        return ""
    key, sep, value = (part.strip() for part in label.partition("="))
    example = "use key or key=value, e.g. mcp-server or mcp-server=true"
    if not key:
        raise ValidationError({"label": f"'{label}' has no label key: {example}."})
    if provider == "kubernetes":
        ok = _K8S_LABEL_KEY.match(key) and _K8S_LABEL_VALUE.match(value)
    else:
        ok = _LABEL_PART.match(key) and (not value or _LABEL_PART.match(value))
    if not ok or "=" in value:
        raise ValidationError(
            {"label": f"'{label}' is not a label filter: {example} (letters, digits, . _ - /)."}
        )
    return f"{key}{sep}{value}"


def discover(account: CloudAccount, label: str = "") -> list[Discovered]:
    """The account's services from its cloud, marking those already in the registry."""
    if account.provider == "url":
        raise ValidationError(
            {"account": f"'{account.name}' is a plain-URL account: nothing to discover."}
        )
    label = clean_label_filter(account.provider, label)
    snapshots = adapter_for(account.to_ref(), pacing=cloud_pacing()).list_services(
        account.to_ref(), label=label
    )
    registered = {short_resource(s.resource): s for s in account.services.exclude(resource="")}
    rows = []
    for snapshot in sorted(snapshots, key=lambda s: s.resource):
        name, kind, url = _suggested(snapshot)
        rows.append(
            Discovered(snapshot, registered.get(short_resource(snapshot.resource)), name, kind, url)
        )
    return rows


def import_discovered(
    account: CloudAccount,
    resources: Iterable[Discovered],
    actor: Any,
    source: str = "ui",
    urls: Mapping[str, str] | None = None,
) -> list[Service]:
    """Register the chosen discovered services (all or none), each with its first snapshot.

    `urls` (resource -> URL) is what the operator typed: it fills in a URL the cloud does not
    expose (an ECS service without a load balancer) or replaces the derived one.
    """
    chosen = [d for d in resources if d.registered is None]
    if not chosen:
        raise ValidationError(
            {"resources": "Choose at least one service that is not registered yet."}
        )
    given = {key: (url or "").strip() for key, url in (urls or {}).items()}
    stray = sorted(set(given) - {d.key for d in chosen})
    if stray:
        raise ValidationError(
            {"urls": f"URLs given for services not being registered: {', '.join(stray)}."}
        )
    created: list[Service] = []
    with transaction.atomic():
        for found in chosen:
            url = given.get(found.key) or found.url
            if not url:
                raise ValidationError(
                    {
                        "resources": f"{found.key} has no URL the console can reach (no public "
                        "endpoint, load balancer listener or Service); give its URL."
                    }
                )
            spec = {
                "name": found.name,
                "kind": found.kind,
                "url": url,
                "account": account.name,
                "resource": found.snapshot.resource,
                "tags": ["discovered"],
                "description": f"Imported from {account.name}.",
            }
            try:
                service = fleet_services.save_service(actor=actor, source=source, spec=spec)
            except ValidationError as exc:
                problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                raise ValidationError({"resources": f"{found.key}: {problems}"}) from exc
            store_snapshot(service, found.snapshot, actor=actor, source=source)
            created.append(service)
        record_action(
            actor,
            "import-discovered",
            account,
            source=source,
            after={"services": [s.name for s in created]},
            detail=f"Registered {len(created)} service(s) discovered in {account.name}.",
        )
    return created
