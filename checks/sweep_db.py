"""The database side of a sweep: claim due services, probe a batch, write results once per claim.

Claiming moves `next_check_at` one interval ahead and bumps `claim_seq` in the same transaction
that selected the rows (`FOR UPDATE SKIP LOCKED` on Postgres; SQLite serialises writers), so two
sweeps never hand out the same service twice in one interval. A batch writes its results with the
claim number as `slot`, unique per service: a batch that runs again (a worker died, the broker
redelivered) skips what was already written, and nothing is counted twice.

One service never stops the sweep for the rest: whatever its stored settings hold, a failure while
scheduling, probing or recording it is written against that service (a failed result, or its
last error) and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import DatabaseError, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from checks import drift, state
from checks.models import CheckConfig, ProbeResult
from checks.probing.sweep import probe_many_sync
from checks.probing.types import ProbeOutcome
from checks.targets import TargetError, target_for
from console import limits
from console.input_guard import UNSTORABLE_RE
from fleet.models import Service, ServiceKind

logger = logging.getLogger(__name__)
Claim = tuple[int, int]  # (service id, claim_seq)


def _interval(seconds: object) -> timedelta:
    """A stored interval as a timedelta, held inside its bounds (a row edited past the validators
    must not overflow the schedule for everyone)."""
    bound = limits.BOUNDS["interval_seconds"]
    try:
        return timedelta(seconds=min(max(int(seconds), bound.low), bound.high))
    except (TypeError, ValueError, OverflowError):
        return timedelta(seconds=bound.high)


def _storable(text: str) -> str:
    """Text from a target, with what no database can store (NUL, lone surrogates) replaced."""
    return UNSTORABLE_RE.sub("\ufffd", text) if text else text


def batch_size() -> int:
    return int(getattr(settings, "PROBE_BATCH_SIZE", 50))


def probe_concurrency() -> int:
    return int(getattr(settings, "PROBE_CONCURRENCY", 100))


def ensure_configs() -> int:
    """Give every service without check settings the defaults (due now); returns how many."""
    missing = Service.objects.filter(check_config__isnull=True).values_list("pk", flat=True)
    rows = [CheckConfig(service_id=pk) for pk in missing]
    CheckConfig.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def claim_due(now: datetime | None = None, limit: int = 5000) -> list[Claim]:
    """Claim every enabled service whose check is due: push it one interval on, return claims."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            CheckConfig.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, next_check_at__lte=now)
            .order_by("next_check_at")
            .values_list("pk", "service_id", "interval_seconds", "claim_seq")[:limit]
        )
        by_interval: dict[int, list[int]] = {}
        for pk, _, interval, _ in due:
            by_interval.setdefault(interval, []).append(pk)
        for interval, pks in by_interval.items():
            CheckConfig.objects.filter(pk__in=pks).update(
                next_check_at=now + _interval(interval),
                claim_seq=F("claim_seq") + 1,
            )
    return [(service_id, seq + 1) for _, service_id, _, seq in due]


def batches(claims: Sequence[Claim], size: int | None = None) -> list[list[Claim]]:
    size = size or batch_size()
    return [list(claims[i : i + size]) for i in range(0, len(claims), size)]


@dataclass
class Checked:
    """One service checked: its result row and the transition it caused, if any."""

    service: Service
    outcome: ProbeOutcome
    result: ProbeResult | None
    change: object = None
    drift: object = None


def run_batch(claims: Sequence[Claim], at: datetime | None = None) -> list[Checked]:
    """Probe the claimed services concurrently and record each result once (time `at`)."""
    slots = dict(claims)
    configs = {
        c.service_id: c
        for c in CheckConfig.objects.select_related("service__account").filter(service_id__in=slots)
    }
    done = set(
        ProbeResult.objects.filter(service_id__in=slots, slot__in=set(slots.values())).values_list(
            "service_id", "slot"
        )
    )
    todo = [configs[sid] for sid, seq in claims if sid in configs and (sid, seq) not in done]
    outcomes = probe_configs(todo)
    items = [(c.service, c, o, slots[c.service_id]) for c, o in zip(todo, outcomes, strict=True)]
    return record(items, at=at)


def probe_configs(configs: Sequence[CheckConfig]) -> list[ProbeOutcome]:
    """Probe each config's service; a config that cannot be turned into a target fails alone."""
    targets, outcomes = [], [None] * len(configs)
    for i, config in enumerate(configs):
        try:
            targets.append((i, target_for(config.service, config)))
        except TargetError as exc:
            outcomes[i] = ProbeOutcome(ok=False, phase="auth", error=str(exc), client="")
        except Exception as exc:  # stored settings no validator would pass today
            logger.exception("cannot prepare the check of %s", config.service)
            outcomes[i] = ProbeOutcome(
                ok=False,
                phase="config",
                error=f"The check could not be prepared from the stored settings "
                f"({type(exc).__name__}: {exc}); fix them on the check settings page.",
                client="",
            )
    probed = probe_many_sync([t for _, t in targets], concurrency=probe_concurrency())
    for (i, _), outcome in zip(targets, probed, strict=True):
        outcomes[i] = outcome
    remember_clients(configs, outcomes)
    return outcomes


def remember_clients(configs: Sequence[CheckConfig], outcomes: Sequence[ProbeOutcome]) -> None:
    """Store which client probed each service when that changed: the httpx fallback once the
    lean client met something it does not do, the lean client again once it answered after a
    change of URL. Rare, so one UPDATE per change."""
    now = timezone.now()
    for config, outcome in zip(configs, outcomes, strict=True):
        if outcome is None or not (outcome.client == "httpx" or outcome.ok):
            continue  # a failed lean probe says nothing about which client fits
        if outcome.client == "lean" and config.probe_client != "httpx":
            continue  # the default, nothing to remember (no write per service per sweep)
        url = config.service.url
        reason = outcome.client_reason if outcome.client == "httpx" else ""
        stored = (
            config.probe_client or "lean",
            config.probe_client_reason,
            config.probe_client_url,
        )
        if stored == (outcome.client, reason, url):
            continue
        config.probe_client, config.probe_client_reason = outcome.client, reason[:300]
        config.probe_client_url, config.probe_client_since = url, now
        CheckConfig.objects.filter(pk=config.pk).update(
            probe_client=outcome.client,
            probe_client_reason=reason[:300],
            probe_client_url=url,
            probe_client_since=now,
        )


def record(
    items: Sequence[tuple[Service, CheckConfig, ProbeOutcome, int | None]],
    at: datetime | None = None,
) -> list[Checked]:
    """Bulk-insert the results and apply each to the state machine, in one transaction.

    What did not move is written in bulk: the result rows, the counters (one UPDATE per kind of
    reading), "last checked" (one UPDATE per distinct error) and tool lists equal to the
    baseline (one UPDATE). Only a status change or a new tool list takes the per-service path; a
    service whose bookkeeping there raises is rolled back alone (savepoint) and its next check is
    pushed one interval further instead of failing the batch. A service deleted meanwhile is
    skipped.
    """
    if not items:
        return []
    now = at or timezone.now()
    ids = [s.pk for s, *_ in items]
    cold_capable = _scales_to_zero_ids(ids)
    with transaction.atomic():
        locked = {
            c.service_id: c
            for c in CheckConfig.objects.select_for_update().filter(service_id__in=ids)
        }
        statuses = dict(Service.objects.filter(pk__in=ids).values_list("pk", "status"))
        readings, rows = [], []
        for service, _, outcome, slot in items:
            config, old = locked.get(service.pk), statuses.get(service.pk)
            if config is None or old is None:  # deleted while it was being probed
                continue
            try:
                scales = config.scales_to_zero or service.pk in cold_capable
                reading = state.read_outcome(config, outcome, scales)
                row = result_row(service, outcome, reading, slot=slot, at=now)
            except Exception as exc:
                _set_aside(service, config, exc, now)
                continue
            readings.append((service, config, outcome, reading, old))
            rows.append(row)
        saved = _insert_results(rows, readings, now)
        return _apply_all([(*r, row) for r, row in saved], now)


def _insert_results(rows: list, readings: list, now: datetime) -> list:
    """All rows in one insert; if the database refuses one, each alone, so only it is lost."""
    try:
        with transaction.atomic():
            ProbeResult.objects.bulk_create(rows)
        return list(zip(readings, rows, strict=True))
    except DatabaseError:
        logger.exception("inserting %d check results failed; inserting them one by one", len(rows))
    saved = []
    for reading, row in zip(readings, rows, strict=True):
        try:
            with transaction.atomic():
                row.pk = None
                row.save(force_insert=True)
            saved.append((reading, row))
        except DatabaseError as exc:
            _set_aside(reading[0], reading[1], exc, now)
    return saved


def _set_aside(service: Service, config: CheckConfig, exc: Exception, now: datetime) -> None:
    """Recording one service failed: say so on it, push its next check on, and carry on."""
    logger.error("recording the check of %s failed: %s", service, exc, exc_info=exc)
    message = _storable(f"The check result could not be recorded ({type(exc).__name__}: {exc}).")
    with transaction.atomic():
        Service.objects.filter(pk=service.pk).update(last_error=message[:2000], last_checked_at=now)
        CheckConfig.objects.filter(pk=config.pk).update(
            next_check_at=now + 2 * _interval(config.interval_seconds)
        )


def _save_counts(kinds: dict[str, list[int]], owners: dict, now: datetime) -> set[int]:
    """state.save_counts in bulk; if the database refuses it, config by config, so one row that
    cannot take its new counters (edited past the validators) is set aside alone. Returns those."""
    try:
        with transaction.atomic():
            state.save_counts(kinds, now)
        return set()
    except DatabaseError:
        logger.exception("saving the counters of a batch failed; saving them one by one")
    failed: set[int] = set()
    for kind, ids in kinds.items():
        for pk in ids:
            try:
                with transaction.atomic():
                    state.save_counts({kind: [pk]}, now)
            except DatabaseError as exc:
                failed.add(pk)
                _set_aside(*owners[pk], exc, now)
    return failed


def _apply_all(entries: list, now: datetime) -> list[Checked]:
    checked, kinds, steady, moved, advanced = [], {}, [], [], []
    for service, config, outcome, reading, old, row in entries:
        new = state.advance(old, config, reading)
        kinds.setdefault(state.reading_kind(reading), []).append(config.pk)
        advanced.append((service, config, outcome, old, new, row))
    failed = _save_counts(kinds, {e[1].pk: (e[0], e[1]) for e in entries}, now)
    for service, config, outcome, old, new, row in advanced:
        if config.pk in failed:
            continue
        item = Checked(service=service, outcome=outcome, result=row)
        checked.append(item)
        service.last_checked_at, service.last_latency_ms = now, row.latency_ms
        service.last_error = row.error
        if new == old:
            steady.append((service.pk, row.latency_ms, row.error))
        else:
            moved.append((item, config, row, old, new))
    state.save_live(steady, now)
    for item, config, row, old, new in moved:
        live = {"last_checked_at": now, "last_latency_ms": row.latency_ms, "last_error": row.error}
        reason = state.reason_for(new, config, row)
        _guarded(item, config, now, partial(_change, item, old, new, reason, live, now))
    configs = {e[0].pk: e[1] for e in entries}
    tool_lists = [c for c in checked if c.outcome.ok and c.service.kind == ServiceKind.MCP_SERVER]
    for item in drift.record_unchanged(tool_lists, now):
        _guarded(item, configs[item.service.pk], now, partial(_drift, item, now))
    return checked


def _change(item: Checked, old: str, new: str, reason: str, live: dict, now: datetime) -> None:
    item.change = state.record_state_change(item.service, old, new, reason, at=now, live=live)


def _drift(item: Checked, now: datetime) -> None:
    item.drift = drift.record_tools(item.service, item.outcome, now)


def _guarded(item: Checked, config: CheckConfig, now: datetime, work: Callable[[], None]) -> None:
    try:
        with transaction.atomic():
            work()
    except Exception as exc:
        _set_aside(item.service, config, exc, now)


def result_row(
    service: Service, outcome: ProbeOutcome, reading: state.Reading, *, slot, at
) -> ProbeResult:
    tls = outcome.tls
    return ProbeResult(
        service=service,
        checked_at=at,
        slot=slot,
        ok=outcome.ok,
        latency_ms=outcome.latency_ms,
        phases={k: round(v, 2) for k, v in outcome.phases_ms.items()},
        phase=_storable(outcome.phase[:40]),
        transport=_storable(outcome.transport[:20]),
        protocol_version=_storable(outcome.protocol_version[:20]),
        server_name=_storable(outcome.server_name[:200]),
        server_version=_storable(outcome.server_version[:100]),
        http_status=outcome.http_status,
        error=_storable(outcome.error),
        body_excerpt=_storable(outcome.body_excerpt[:1000]),
        cold_start=reading.cold_start,
        slow=reading.slow,
        tls_days=tls.days_to_expiry if tls else None,
        tls_hostname_ok=tls.hostname_matches if tls else None,
        tool_call_ok=outcome.tool_call_ok,
        tool_call_detail=_storable(outcome.tool_call_detail),
        unauthenticated_tools_list=outcome.unauthenticated_tools_list,
        capabilities=outcome.capabilities or {},
        instructions=_storable(outcome.instructions),
        tool_count=len(outcome.tools) if outcome.ok and service.kind == "mcp_server" else None,
        client=outcome.client[:8],
    )


def _scales_to_zero_ids(ids: list[int]) -> set[int]:
    """Services whose minimum is zero instances: as the cloud reports it, or as an operator set it."""
    zero = Q(scaling__observed_min_instances=0) | Q(scaling__desired_min_instances=0)
    try:
        return set(Service.objects.filter(zero, pk__in=ids).values_list("pk", flat=True))
    except FieldError:  # scaling is not tracked in this deployment
        return set()


def check_now(service: Service, at: datetime | None = None) -> Checked:
    """Probe one service right now (button, API, CLI), outside the schedule."""
    config, _ = CheckConfig.objects.select_related("service").get_or_create(service=service)
    config.service = service
    outcome = probe_configs([config])[0]
    checked = record([(service, config, outcome, None)], at=at)
    if not checked:
        raise Service.DoesNotExist(f"{service.name} was deleted while it was being checked.")
    return checked[0]


def check_all(batch: int | None = None) -> list[Checked]:
    """Check every enabled service now, batch by batch, outside the schedule (`probe --all`)."""
    ensure_configs()
    configs = list(
        CheckConfig.objects.select_related("service__account")
        .filter(enabled=True)
        .order_by("service__name")
    )
    checked: list[Checked] = []
    size = batch or batch_size()
    for start in range(0, len(configs), size):
        chunk = configs[start : start + size]
        outcomes = probe_configs(chunk)
        checked += record([(c.service, c, o, None) for c, o in zip(chunk, outcomes, strict=True)])
    return checked


def sweep_once(now: datetime | None = None) -> list[Checked]:
    """Claim what is due and run every batch here, synchronously (what the beat sweep fans out)."""
    ensure_configs()
    checked: list[Checked] = []
    for batch in batches(claim_due(now)):
        checked += run_batch(batch)
    return checked


def sweep_lag_seconds(now: datetime | None = None) -> float:
    """How far behind the sweep is: the age of the oldest check that is due and not yet claimed."""
    now = now or timezone.now()
    oldest = CheckConfig.objects.filter(enabled=True, next_check_at__lte=now).aggregate(
        oldest=Min("next_check_at")
    )["oldest"]
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
