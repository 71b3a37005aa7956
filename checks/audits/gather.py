"""Evidence for a run, gathered once per service from the database and the console's peers.

Each source is looked up through a small function that degrades to "not gathered" (None) when
the piece it needs is not installed or fails: the rules then answer "no evidence" instead of
guessing. Sources, in order of preference:

- the cloud description: the latest stored `ServiceSnapshot` (fleet.operations.models) when that model
  exists, otherwise a live `describe` through the account's adapter; plain-URL services have none;
- probes: `checks.health.latest_outcome(service)` and `checks.health.probe_stats(service, hours)`;
- console configuration: `console.notifications.dispatch.channels_for(service)` (alert routing),
  `fleet.budgets.services.budget_covers(service)` (budget), `settings.LOG_JSON` (structured
  logging) and the console's own audit log (always on).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from checks.audits.evidence import (
    Attestation as AttestationFact,
)
from checks.audits.evidence import (
    ConsoleConfig,
    Evidence,
    FleetContext,
    FleetMember,
    ProbeStats,
    Provenance,
    ServiceFacts,
    Thresholds,
)
from checks.audits.models import Attestation, AuditPolicy
from checks.probing.types import ProbeOutcome
from fleet.models import Dependency, Service
from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot

logger = logging.getLogger(__name__)

PROBE_STATS_HOURS = 24 * 7
# A service tagged like this is registered as open to anonymous callers (no auth expected).
PUBLIC_TAGS = frozenset({"public", "no-auth"})


@dataclass
class CloudRead:
    """The cloud description of one service, or why there is none."""

    snapshot: ServiceSnapshot | None
    origin: Provenance | None
    note: str = ""


def _optional(module: str, attr: str) -> Any | None:
    """`module.attr`, or None when that piece of the console is not installed (yet)."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


# --- the cloud description -------------------------------------------------------------------


def _stored_snapshot(service: Service) -> CloudRead | None:
    """The stored description (fleet.operations.models.CloudSnapshot), when installed and current."""
    model = _optional("fleet.operations.models", "CloudSnapshot")
    if model is None:
        return None
    try:
        row = model.objects.filter(service=service).order_by("-observed_at").first()
    except Exception as exc:  # table missing, field renamed: no evidence rather than a crash
        logger.warning("reading stored snapshot for %s failed: %s", service.name, exc)
        return None
    # A snapshot of the resource the service was linked to before is not evidence about it now.
    if row is None or not _same_resource(getattr(row, "resource", ""), service.resource):
        return None
    snapshot = snapshot_from_data(row.data, getattr(row, "raw", None))
    if snapshot is None:
        return None
    account = getattr(row, "account_name", "") or (
        service.account.name if service.account_id else ""
    )
    where = f"{_platform(snapshot.provider)} {account}/{snapshot.resource} (stored description)"
    return CloudRead(snapshot, Provenance(where, getattr(row, "observed_at", None)))


def _same_resource(stored: str, linked: str) -> bool:
    """The platform may report a full name (projects/.../services/x) for the linked short name."""
    if stored == linked:
        return True
    return (
        bool(stored and linked)
        and stored.rstrip("/").rsplit("/", 1)[-1] == linked.rsplit("/", 1)[-1]
    )


_SNAPSHOT_FIELDS = {f.name for f in fields(ServiceSnapshot)}
_SCALING_FIELDS = {f.name for f in fields(ScalingSettings)}
_ENV_FIELDS = {f.name for f in fields(EnvVar)}


def snapshot_from_data(data: Any, raw: Any = None) -> ServiceSnapshot | None:
    """A ServiceSnapshot from its stored JSON form; None when the data is not that shape."""
    if not isinstance(data, dict) or not data.get("provider") or not data.get("resource"):
        return None
    values = {k: v for k, v in data.items() if k in _SNAPSHOT_FIELDS}
    scaling = data.get("scaling") or {}
    values["scaling"] = ScalingSettings(
        **{k: v for k, v in scaling.items() if k in _SCALING_FIELDS}
    )
    values["env"] = [
        EnvVar(**{k: v for k, v in e.items() if k in _ENV_FIELDS})
        for e in data.get("env") or []
        if isinstance(e, dict) and "name" in e and "is_secret_ref" in e
    ]
    values["labels"] = dict(data.get("labels") or {})
    values["raw"] = raw if isinstance(raw, dict) else {}
    try:
        return ServiceSnapshot(**values)
    except TypeError:
        return None


def _live_snapshot(service: Service) -> CloudRead:
    """Describe the service through its account's adapter; any failure is recorded, not raised."""
    from fleet.operations.clouds.registry import adapter_for

    ref = service.to_ref()
    try:
        snapshot = adapter_for(ref.account).describe(ref)
    except Exception as exc:  # any adapter error means "no cloud evidence this run"
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > 300:
            reason = reason[:299] + "…"
        return CloudRead(
            None, None, f"the {_platform(ref.account.provider)} read failed ({reason})"
        )
    where = f"{_platform(snapshot.provider)} {ref.account.name}/{ref.resource}"
    return CloudRead(snapshot, Provenance(where, timezone.now()))


def read_cloud(service: Service) -> CloudRead:
    """The cloud description of a service (stored or live), or None with the reason."""
    if not service.account_id or service.account.provider == "url":
        return CloudRead(None, None, "it is a plain URL service, not linked to a cloud")
    if not service.resource:
        return CloudRead(None, None, "no cloud resource is linked to it")
    return _stored_snapshot(service) or _live_snapshot(service)


def _platform(provider: str) -> str:
    return {
        "gcp": "Cloud Run API",
        "aws": "ECS API",
        "azure": "Container Apps API",
        "kubernetes": "Kubernetes API",
    }.get(provider, f"{provider} API")


# --- probes ------------------------------------------------------------------------------------


def read_probe(service: Service) -> tuple[ProbeOutcome | None, Provenance | None]:
    """The latest probe outcome and when it was taken, from the health-check engine."""
    latest = _optional("checks.health", "latest_outcome")
    if latest is None:
        return None, None
    try:
        value = latest(service)
    except Exception as exc:
        logger.warning("latest probe for %s failed: %s", service.name, exc)
        return None, None
    when = None
    if isinstance(value, tuple) and len(value) == 2:
        value, when = value
    if value is not None and not isinstance(value, ProbeOutcome):
        when = _first_attr(value, "checked_at", "observed_at")
        value = getattr(value, "outcome", None)
    if not isinstance(value, ProbeOutcome):
        return None, None
    when = when or service.last_checked_at
    return value, Provenance(f"console probe of {service.url}", when)


def read_probe_stats(service: Service, hours: int = PROBE_STATS_HOURS) -> ProbeStats | None:
    """Probe history over the window, from the health-check engine."""
    stats = _optional("checks.health", "probe_stats")
    if stats is None:
        return None
    try:
        value = stats(service, hours=hours)
    except Exception as exc:
        logger.warning("probe history for %s failed: %s", service.name, exc)
        return None
    if value is None or isinstance(value, ProbeStats):
        return value
    count = _field(value, "count")
    if count is None:
        return None
    window = f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
    return ProbeStats(
        count=int(count),
        uptime_pct=_field(value, "uptime_pct"),
        p95_latency_ms=_field(value, "p95_latency_ms", "p95_ms"),
        window=window,
        origin=Provenance("console probe history", timezone.now()),
    )


# --- console configuration ---------------------------------------------------------------------


def alert_routed(service: Service) -> bool | None:
    """Whether an alert channel routes this service; None when alerting is not installed."""
    channels_for = _optional("console.notifications.dispatch", "channels_for")
    if channels_for is None:
        return None
    try:
        return bool(list(channels_for(service)))
    except Exception as exc:
        logger.warning("alert routing for %s failed: %s", service.name, exc)
        return None


def budget_covered(service: Service) -> bool | None:
    """Whether a budget covers this service; None when budgets are not installed."""
    covers = _optional("fleet.budgets.services", "budget_covers")
    if covers is None:
        return None
    try:
        return bool(covers(service))
    except Exception as exc:
        logger.warning("budget coverage for %s failed: %s", service.name, exc)
        return None


def console_config(service: Service, policy: AuditPolicy, read_at: datetime) -> ConsoleConfig:
    return ConsoleConfig(
        alert_routed=alert_routed(service),
        budget_covered=budget_covered(service),
        structured_logging=bool(getattr(settings, "LOG_JSON", False)),
        audit_logging=True,  # the console writes its audit log for every change, always
        allowed_regions=tuple(policy.allowed_regions or ()),
        oldest_protocol_version=policy.oldest_protocol_version,
        origin=Provenance("console configuration", read_at),
    )


# --- the registry ------------------------------------------------------------------------------


def service_facts(service: Service) -> ServiceFacts:
    tags = tuple(service.tags or ())
    return ServiceFacts(
        name=service.name,
        kind=service.kind,
        url=service.url,
        transport=service.transport,
        environment=service.environment or "",
        team=service.team,
        tags=tags,
        requires_auth=not (PUBLIC_TAGS & {t.lower() for t in tags}),
        provider=service.provider,
        account=service.account.name if service.account_id else "",
        resource=service.resource,
        health_path=service.health_path,
        origin=Provenance("console service registry", service.updated_at),
    )


def attestations_for(services: Iterable[Service], known_ids: set[str]) -> dict[int, dict]:
    """Per service id: the newest attestation per rule (a service's own beats a fleet-wide one)."""
    ids = [s.pk for s in services]
    rows = Attestation.objects.filter(rule_id__in=known_ids).filter(
        service_id__in=ids
    ) | Attestation.objects.filter(rule_id__in=known_ids, service__isnull=True)
    fleet_wide: dict[str, AttestationFact] = {}
    own: dict[int, dict[str, AttestationFact]] = {}
    for row in rows.order_by("at", "id"):  # oldest first, so newer ones overwrite
        fact = AttestationFact(row.by_label, row.note, row.at, row.expires_at)
        if row.service_id is None:
            fleet_wide[row.rule_id] = fact
        else:
            own.setdefault(row.service_id, {})[row.rule_id] = fact
    return {sid: {**fleet_wide, **own.get(sid, {})} for sid in ids}


def gather(
    services: list[Service], policy: AuditPolicy, known_rule_ids: set[str], log=None
) -> dict[str, Evidence]:
    """Evidence for each service, each source read once per service."""
    read_at = timezone.now()
    everyone = list(Service.objects.select_related("account").order_by("name"))
    clouds: dict[int, CloudRead] = {}
    for service in services:
        clouds[service.pk] = read_cloud(service)
        if log and clouds[service.pk].note:
            log(f"{service.name}: no cloud description ({clouds[service.pk].note})")
    callers = _callers()
    attested = attestations_for(services, known_rule_ids)
    thresholds = Thresholds(tls_warning_days=float(policy.tls_warning_days))
    fleet_origin = Provenance("console service registry", read_at)
    evidences: dict[str, Evidence] = {}
    for service in services:
        cloud = clouds[service.pk]
        probe, probe_from = read_probe(service)
        others = [
            _member(other, clouds.get(other.pk)) for other in everyone if other.pk != service.pk
        ]
        evidences[service.name] = Evidence(
            service=service_facts(service),
            snapshot=cloud.snapshot,
            snapshot_from=cloud.origin,
            snapshot_note="" if cloud.snapshot else cloud.note,
            probe=probe,
            probe_from=probe_from,
            probe_stats=read_probe_stats(service),
            fleet=FleetContext(
                others=others,
                callers=None if callers is None else sorted(callers.get(service.pk, [])),
                origin=fleet_origin,
            ),
            config=console_config(service, policy, read_at),
            attestations=attested.get(service.pk, {}),
            thresholds=thresholds,
        )
    return evidences


def _member(service: Service, cloud: CloudRead | None) -> FleetMember:
    identity = cloud.snapshot.service_identity if cloud and cloud.snapshot else ""
    return FleetMember(
        name=service.name,
        kind=service.kind,
        provider=service.provider,
        account=service.account.name if service.account_id else "",
        resource=service.resource,
        identity=identity,
    )


def _callers() -> dict[int, list[str]] | None:
    """Callee id -> caller names; None when no dependency was ever recorded in the registry."""
    rows = list(Dependency.objects.values_list("callee_id", "caller__name"))
    if not rows:
        return None
    callers: dict[int, list[str]] = {}
    for callee_id, caller in rows:
        callers.setdefault(callee_id, []).append(caller)
    return callers


def _first_attr(obj: Any, *names: str) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None
