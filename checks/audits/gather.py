"""Evidence for a run, gathered once per run for all its services from the database and peers.

Each source is read in bulk (a few queries for the whole fleet, not a few per service) through a
small function that degrades to "not gathered" (None) when the piece it needs is not installed or
fails: the rules then answer "no evidence" instead of guessing. Sources:

- the cloud description: the stored `CloudSnapshot` (fleet.operations.models) of each service, else a
  live `describe` through the account's adapter; plain-URL services have none;
- probes: `checks.health.latest_outcomes(services)` and `probe_stats_many(services, hours)`;
- console configuration: the enabled alert channels' routing (alert routing);
- evidence readers: functions registered with `@reader(KEY)` (see evidence.OBSERVED) that read
  one kind of fact about many services at once, e.g. a cloud's logging API. They are called once
  per run with every service in scope and answer per service id with an `Observation` (value,
  source, time) or a sentence saying why nothing was read. Modules holding readers are listed in
  `READER_MODULES`. The console's own settings are never read as evidence about a service.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from django.db import connections
from django.utils import timezone

from checks.audits.evidence import (
    OBSERVED,
    ConsoleConfig,
    Evidence,
    FleetContext,
    FleetMember,
    FleetMembers,
    Observation,
    ProbeStats,
    Provenance,
    ServiceFacts,
    Thresholds,
)
from checks.audits.evidence import (
    Attestation as AttestationFact,
)
from checks.audits.evidence import describe as describe_fact
from checks.audits.models import Attestation, AuditPolicy
from checks.probing.types import ProbeOutcome
from fleet.models import Dependency, Service
from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot

logger = logging.getLogger(__name__)

PROBE_STATS_HOURS = 24 * 7
BULK_CHUNK = 2000  # services per query in bulk reads
ACCOUNTS_AT_ONCE = 8  # cloud accounts (or platforms) read side by side
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


def _stored_snapshots(services: list[Service]) -> dict[int, CloudRead]:
    """Stored descriptions (fleet.operations.models.CloudSnapshot) of the linked services, one query
    per 2,000 services; services without a current one are left out."""
    model = _optional("fleet.operations.models", "CloudSnapshot")
    linked = [s for s in services if s.account_id and s.resource and s.provider != "url"]
    if model is None or not linked:
        return {}
    by_id = {s.pk: s for s in linked}
    reads: dict[int, CloudRead] = {}
    try:
        for start in range(0, len(linked), BULK_CHUNK):
            ids = list(by_id)[start : start + BULK_CHUNK]
            for row in model.objects.filter(service_id__in=ids).iterator():
                read = _stored_read(by_id[row.service_id], row)
                if read is not None:
                    reads[row.service_id] = read
    except Exception as exc:  # table missing, field renamed: no evidence rather than a crash
        logger.warning("reading stored snapshots failed: %s", exc)
        return {}
    return reads


def _stored_read(service: Service, row: Any) -> CloudRead | None:
    # A snapshot of the resource the service was linked to before is not evidence about it now.
    if not _same_resource(getattr(row, "resource", ""), service.resource):
        return None
    snapshot = snapshot_from_data(row.data, getattr(row, "raw", None))
    if snapshot is None:
        return None
    account = getattr(row, "account_name", "") or (
        service.account.name if service.account_id else ""
    )
    where = f"{_platform(snapshot.provider)} for {account}/{snapshot.resource} (stored by the last sync)"
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
    """Describe one service through its account's adapter (see `_live_snapshots`)."""
    return _live_snapshots([service])[service.pk]


def _live_snapshots(services: list[Service]) -> dict[int, CloudRead]:
    """Describe the services through their accounts' adapters: one adapter (SDK clients,
    credentials) per account and one `describe_many` per account, which lists or batches
    where the platform can. Any failure is recorded per service, never raised."""
    from fleet.operations.clouds.registry import adapter_for

    by_account: dict[int, list[Service]] = {}
    for service in services:
        by_account.setdefault(service.account_id, []).append(service)
    groups = [(group, [s.to_ref() for s in group]) for group in by_account.values()]

    def describe(refs: list) -> dict[str, Any]:
        try:
            return adapter_for(refs[0].account).describe_many(refs)
        except Exception as exc:  # no adapter, no credentials: no cloud evidence this run
            return {ref.resource: exc for ref in refs}
        finally:
            connections.close_all()  # this thread's connections, should an adapter open one

    # Accounts are read side by side: the time goes into waiting on their APIs.
    with ThreadPoolExecutor(max_workers=max(1, min(ACCOUNTS_AT_ONCE, len(groups)))) as pool:
        answers = list(pool.map(describe, [refs for _, refs in groups]))
    reads: dict[int, CloudRead] = {}
    read_at = timezone.now()
    for (group, refs), found in zip(groups, answers, strict=True):
        account = refs[0].account
        for service, ref in zip(group, refs, strict=True):
            answer = found.get(ref.resource)
            if isinstance(answer, ServiceSnapshot):
                where = f"{_platform(answer.provider)} for {account.name}/{ref.resource}"
                reads[service.pk] = CloudRead(answer, Provenance(where, read_at))
                continue
            if answer is None:
                answer = RuntimeError("the platform did not answer for this service")
            reason = f"{type(answer).__name__}: {answer}"
            if len(reason) > 300:
                reason = reason[:299] + "…"
            reads[service.pk] = CloudRead(
                None, None, f"the {_platform(account.provider)} read failed ({reason})"
            )
    return reads


def read_cloud(
    service: Service,
    stored: Mapping[int, CloudRead] | None = None,
    live: Mapping[int, CloudRead] | None = None,
) -> CloudRead:
    """The cloud description of a service (stored, or read live), or None with the reason."""
    if not service.account_id or service.account.provider == "url":
        return CloudRead(None, None, "it is a plain URL service, not linked to a cloud")
    if not service.resource:
        return CloudRead(None, None, "no cloud resource is linked to it")
    if stored is None:
        stored = _stored_snapshots([service])
    found = stored.get(service.pk) or (live or {}).get(service.pk)
    return found or _live_snapshot(service)


# The platform call each adapter's describe makes, as its API reference names it.
_PLATFORM_CALLS = {
    "gcp": "Cloud Run Admin API services.get",
    "aws": "Amazon ECS DescribeServices",
    "azure": "Container Apps API containerApps.get",
    "kubernetes": "Kubernetes API read Deployment",
}


def _platform(provider: str) -> str:
    return _PLATFORM_CALLS.get(provider, f"{provider} API")


# --- probes ------------------------------------------------------------------------------------


def read_probes(services: list[Service]) -> dict[int, tuple[ProbeOutcome, Provenance]]:
    """Each service's latest probe outcome and when it ran, from the health-check engine."""
    latest = _optional("checks.health", "latest_outcomes")
    if latest is None or not services:
        return {}
    try:
        found = latest(services)
    except Exception as exc:
        logger.warning("reading the latest probes failed: %s", exc)
        return {}
    urls = {s.pk: s.url for s in services}
    return {
        pk: (outcome, Provenance(f"console probe of {urls[pk]}", when))
        for pk, (outcome, when) in found.items()
        if isinstance(outcome, ProbeOutcome)
    }


def read_probe_stats(
    services: list[Service], hours: int = PROBE_STATS_HOURS
) -> dict[int, ProbeStats]:
    """Each service's probe history over the window, from the health-check engine."""
    stats = _optional("checks.health", "probe_stats_many")
    if stats is None or not services:
        return {}
    try:
        values = stats(services, hours=hours)
    except Exception as exc:
        logger.warning("reading probe history failed: %s", exc)
        return {}
    window = f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
    origin = Provenance("console probe history", timezone.now())
    return {
        pk: ProbeStats(
            count=int(v["count"]),
            uptime_pct=v.get("uptime_pct"),
            p95_latency_ms=v.get("p95_latency_ms"),
            window=window,
            origin=origin,
        )
        for pk, v in values.items()
    }


# --- console configuration ---------------------------------------------------------------------


def alert_routing(services: list[Service]) -> dict[int, bool]:
    """Per service id, whether an enabled alert channel routes it: one query for the fleet."""
    model = _optional("console.notifications.models", "AlertChannel")
    if model is None:
        return {}
    try:
        channels = list(model.objects.filter(enabled=True))
        return {
            s.pk: any(
                c.routes(service=s.name, team=s.team, environment=s.environment, kind=None)
                for c in channels
            )
            for s in services
        }
    except Exception as exc:
        logger.warning("reading alert routing failed: %s", exc)
        return {}


def console_config(policy: AuditPolicy, read_at: datetime, routed: bool | None) -> ConsoleConfig:
    return ConsoleConfig(
        alert_routed=routed,
        allowed_regions=tuple(policy.allowed_regions or ()),
        oldest_protocol_version=policy.oldest_protocol_version,
        origin=Provenance("console configuration", read_at),
    )


# --- evidence readers --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadContext:
    """What a reader gets: the services in scope and what was already read about them."""

    services: list[Service]
    clouds: Mapping[int, CloudRead]  # the cloud description per service id (or why none)
    read_at: datetime


# A reader answers per service id: an Observation, or a sentence saying why nothing was read.
# Services it leaves out get "the console does not read ... on <platform> yet".
EvidenceReader = Callable[[ReadContext], Mapping[int, "Observation | str"]]
READERS: dict[str, list[EvidenceReader]] = {}
# The platform readers register through checks.audits.readers.OncePerRun (one read of a cloud's
# APIs per run, never the database), so their functions are defined in that module; readers
# registered any other way (they may query the database) run in the calling thread.
PLATFORM_READERS = "checks.audits.readers"
# Modules that register readers with @reader when imported (added by the areas that own them).
READER_MODULES: tuple[str, ...] = (
    "fleet.budgets.evidence",
    "checks.audits.readers.kubernetes",
    "checks.audits.readers.cloudrun",
    "checks.audits.readers.ecs",
    "checks.audits.readers.container_apps",
    "checks.audits.readers.metrics_scrape",
)


def reader(key: str) -> Callable[[EvidenceReader], EvidenceReader]:
    """Register a function as a reader of the fact `key` (one of evidence.OBSERVED)."""
    if key not in OBSERVED:
        raise ValueError(f"unknown evidence key {key!r}; add it to evidence.OBSERVED first")

    def register(fn: EvidenceReader) -> EvidenceReader:
        READERS.setdefault(key, [])
        if fn not in READERS[key]:
            READERS[key].append(fn)
        return fn

    return register


def read_observations(
    context: ReadContext, keys: Iterable[str]
) -> tuple[dict[int, dict[str, Observation]], dict[int, dict[str, str]]]:
    """Run each registered reader of the wanted keys once for all services in scope.

    The platform readers (see PLATFORM_READERS) spend their time waiting on one cloud's APIs
    and never touch the database, so each account's services are read in a thread of their
    own, side by side (a platform's reader keeps its per-run state, clients and caches, in the
    call, so accounts share nothing); the other readers run here, on the whole scope.
    """
    for module in READER_MODULES:
        importlib.import_module(module)
    plan = [(key, fn) for key in keys for fn in READERS.get(key, ())]
    found: dict[int, dict[int, Any]] = {}
    remote = [(n, key, fn) for n, (key, fn) in enumerate(plan) if _platform_reader(fn)]
    by_account: dict[tuple[str, int | None], list[Service]] = {}
    for service in context.services:
        by_account.setdefault((service.provider, service.account_id), []).append(service)
    if remote and len(by_account) > 1:

        def read_platform(services: list[Service]) -> list[tuple[int, Mapping[int, Any]]]:
            part = replace(context, services=services)
            try:
                return [(n, _answers(fn, part, key)) for n, key, fn in remote]
            finally:
                connections.close_all()  # this thread's connections, should a reader open one

        groups = list(by_account.values())
        with ThreadPoolExecutor(max_workers=min(ACCOUNTS_AT_ONCE, len(groups))) as pool:
            for part in pool.map(read_platform, groups):
                for n, answers in part:
                    found.setdefault(n, {}).update(answers)
    observed: dict[int, dict[str, Observation]] = {}
    reasons: dict[int, dict[str, str]] = {}
    for n, (key, fn) in enumerate(plan):
        answers = found[n] if n in found else _answers(fn, context, key)
        for pk, answer in answers.items():
            if key in observed.get(pk, {}):
                continue  # an earlier reader already read it
            if isinstance(answer, Observation):
                observed.setdefault(pk, {})[key] = answer
                reasons.get(pk, {}).pop(key, None)
            else:
                reasons.setdefault(pk, {})[key] = str(answer)
    return observed, reasons


def _platform_reader(fn: EvidenceReader) -> bool:
    return getattr(fn, "__module__", "") == PLATFORM_READERS


def _answers(fn: EvidenceReader, context: ReadContext, key: str) -> Mapping[int, Any]:
    try:
        return fn(context)
    except Exception as exc:  # a broken reader is "no evidence" with the reason
        logger.warning("evidence reader %s failed: %s", getattr(fn, "__name__", fn), exc)
        return {
            s.pk: f"reading {describe_fact(key)} failed ({type(exc).__name__}: {exc})"
            for s in context.services
        }


# --- the registry ------------------------------------------------------------------------------


def probe_credentials(services: list[Service]) -> dict[int, bool]:
    """Per service id, whether its check settings give the probe credentials (a header and
    secret, or an OAuth client): one query per 2,000 services; {} when not installed."""
    model = _optional("checks.models", "CheckConfig")
    if model is None or not services:
        return {}
    found: dict[int, bool] = {}
    try:
        for start in range(0, len(services), BULK_CHUNK):
            ids = [s.pk for s in services[start : start + BULK_CHUNK]]
            rows = model.objects.filter(service_id__in=ids).values_list(
                "service_id", "auth_header", "auth_secret_ref", "oauth_token_url"
            )
            for pk, header, secret, token_url in rows:
                found[pk] = bool((header and secret) or token_url)
    except Exception as exc:
        logger.warning("reading the probes' credentials failed: %s", exc)
        return {}
    # A service without check settings is probed with the defaults: no credentials.
    return {s.pk: found.get(s.pk, False) for s in services}


def service_facts(service: Service, credentials: bool | None = None) -> ServiceFacts:
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
        probe_credentials=credentials,
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
    services: list[Service],
    policy: AuditPolicy,
    known_rule_ids: set[str],
    log=None,
    reads: Iterable[str] = tuple(OBSERVED),
) -> dict[str, Evidence]:
    """Evidence for each service, each source read once for the whole run."""
    read_at = timezone.now()
    stored = _stored_snapshots(services)
    live = _live_snapshots([s for s in services if s.pk not in stored and _describable(s)])
    clouds: dict[int, CloudRead] = {}
    for service in services:
        clouds[service.pk] = read_cloud(service, stored, live)
        if log and clouds[service.pk].note:
            log(f"{service.name}: no cloud description ({clouds[service.pk].note})")
    everyone = [*services, *_rest_of_fleet(services)]
    members = FleetMembers(_member(other, clouds.get(other.pk)) for other in everyone)
    callers = _callers()
    attested = attestations_for(services, known_rule_ids)
    probes = read_probes(services)
    stats = read_probe_stats(services)
    routed = alert_routing(services)
    credentials = probe_credentials(services)
    observed, unobserved = read_observations(ReadContext(services, clouds, read_at), reads)
    thresholds = Thresholds(tls_warning_days=float(policy.tls_warning_days))
    fleet_origin = Provenance("console service registry", read_at)
    evidences: dict[str, Evidence] = {}
    for service in services:
        cloud = clouds[service.pk]
        probe, probe_from = probes.get(service.pk, (None, None))
        evidences[service.name] = Evidence(
            service=service_facts(service, credentials.get(service.pk)),
            snapshot=cloud.snapshot,
            snapshot_from=cloud.origin,
            snapshot_note="" if cloud.snapshot else cloud.note,
            probe=probe,
            probe_from=probe_from,
            probe_stats=stats.get(service.pk),
            fleet=FleetContext(
                others=members.others(service.name),
                callers=None if callers is None else sorted(callers.get(service.pk, [])),
                origin=fleet_origin,
            ),
            config=console_config(policy, read_at, routed.get(service.pk)),
            attestations=attested.get(service.pk, {}),
            thresholds=thresholds,
            observations=observed.get(service.pk, {}),
            unobserved=unobserved.get(service.pk, {}),
        )
    return evidences


def _describable(service: Service) -> bool:
    return bool(service.account_id and service.resource and service.account.provider != "url")


def _rest_of_fleet(services: list[Service]) -> list[Service]:
    """Registered services outside the run's scope (one query; none for a fleet run)."""
    rest = Service.objects.select_related("account")
    if len(services) <= BULK_CHUNK:
        return list(rest.exclude(pk__in=[s.pk for s in services]))
    in_scope = {s.pk for s in services}
    return [s for s in rest.iterator() if s.pk not in in_scope]


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
