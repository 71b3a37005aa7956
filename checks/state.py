"""The health state machine: up / degraded / down from consecutive results, one row per transition.

Rules (N = failure threshold, M = recovery threshold, per service):
- N failed checks in a row → down. Fewer leave the status where it was (one blip never flaps it).
- down → up after M good checks in a row (→ degraded if the last of them was slow).
- N slow answers in a row → degraded; degraded → up after M fast answers in a row.
- A 401 with a `WWW-Authenticate` challenge → "needs credentials" at once (the server answered; the
  probe's credentials are missing or refused), never down; the next good check → up.
- Scale-to-zero services (configured, or observed with minimum 0 instances): a slow answer after a
  fast one or after a failure is a cold start — recorded as such, counted as neither slow nor fast.
  Only a second slow answer in a row counts as slow.

Each transition is a conditional update of `Service.status` (where status = old), its own
`StateChange` row, an `Incident` opened or closed, and an alert through the alerting app. Checks
that move nothing are stored in bulk (`save_counts`, `save_live`): a few UPDATEs per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, FloatField, Value, When
from django.db.models.functions import Cast

from checks.models import CheckConfig, Incident, ProbeResult, StateChange
from checks.probing.types import ProbeOutcome
from console.notifications.dispatch import notify, resolve
from console.notifications.events import AlertEvent
from console.wording import status_word
from fleet.models import HealthStatus, Service

UP, DEGRADED, DOWN, UNKNOWN, NEEDS_CREDENTIALS = (
    HealthStatus.UP,
    HealthStatus.DEGRADED,
    HealthStatus.DOWN,
    HealthStatus.UNKNOWN,
    HealthStatus.NEEDS_CREDENTIALS,
)
PROBLEMS = (DOWN, DEGRADED)


@dataclass(frozen=True)
class Reading:
    """How one result counts: failed, slow, or a cold start."""

    ok: bool
    slow: bool
    cold_start: bool
    needs_credentials: bool = False


def read_outcome(config: CheckConfig, outcome: ProbeOutcome, scales_to_zero: bool) -> Reading:
    """Classify a result against the config and the counters before it."""
    slow = bool(
        outcome.ok and outcome.latency_ms is not None and outcome.latency_ms > config.slow_ms
    )
    first_slow = config.consecutive_slow == 0 and not config.last_was_cold_start
    cold = slow and scales_to_zero and first_slow
    return Reading(
        ok=outcome.ok,
        slow=slow and not cold,
        cold_start=cold,
        needs_credentials=not outcome.ok and outcome.needs_credentials,
    )


def count(config: CheckConfig, reading: Reading) -> None:
    """Advance the consecutive counters (in memory; the caller saves)."""
    if not reading.ok:
        config.consecutive_failures += 1
        config.consecutive_successes = config.consecutive_slow = config.consecutive_fast = 0
        config.last_was_cold_start = False
        return
    config.consecutive_failures = 0
    config.consecutive_successes += 1
    config.last_was_cold_start = reading.cold_start
    if reading.slow:
        config.consecutive_slow += 1
        config.consecutive_fast = 0
    elif not reading.cold_start:
        config.consecutive_fast += 1
        config.consecutive_slow = 0


def decide(old: str, config: CheckConfig, reading: Reading) -> str:
    """The status after a result, given the counters already advanced by `count`."""
    n, m = config.failure_threshold, config.recovery_threshold
    if reading.needs_credentials:
        return NEEDS_CREDENTIALS  # it answered: not down, but the probe cannot get in
    if not reading.ok:
        return DOWN if config.consecutive_failures >= n else old
    if old == DOWN:
        if config.consecutive_successes < m:
            return DOWN
        return DEGRADED if reading.slow else UP
    if config.consecutive_slow >= n:
        return DEGRADED
    if old == DEGRADED:
        return UP if config.consecutive_fast >= m else DEGRADED
    return UP


def reason_for(new: str, config: CheckConfig, result: ProbeResult) -> str:
    if new == DOWN:
        return f"{config.consecutive_failures} failed checks in a row: {result.error}"
    if new == DEGRADED and result.ok:
        return (
            f"{config.consecutive_slow or 1} slow answer(s) in a row "
            f"({result.latency_ms:.0f} ms, threshold {config.slow_ms} ms)"
        )
    if new == UP:
        return f"answered normally ({_ms(result.latency_ms)})"
    return result.error or "status changed"


def advance(old: str, config: CheckConfig, reading: Reading) -> str:
    """Count the result into `config` (in memory) and return the status it leads to."""
    count(config, reading)
    return decide(old, config, reading)


def reading_kind(reading: Reading) -> str:
    """Which counter update a reading makes: failed, slow, cold or fast."""
    if not reading.ok:
        return "failed"
    return "cold" if reading.cold_start else "slow" if reading.slow else "fast"


def _counter_updates(kind: str) -> dict:
    """What `count` does to the stored counters, as one UPDATE for every config of a kind."""
    plus = {f: F(f) + 1 for f in ("consecutive_failures", "consecutive_successes")}
    plus |= {f: F(f) + 1 for f in ("consecutive_slow", "consecutive_fast")}
    if kind == "failed":
        return {
            "consecutive_failures": plus["consecutive_failures"],
            "consecutive_successes": 0,
            "consecutive_slow": 0,
            "consecutive_fast": 0,
            "last_was_cold_start": False,
        }
    ok = {"consecutive_failures": 0, "consecutive_successes": plus["consecutive_successes"]}
    if kind == "cold":
        return ok | {"last_was_cold_start": True}
    if kind == "slow":
        return ok | {
            "consecutive_slow": plus["consecutive_slow"],
            "consecutive_fast": 0,
            "last_was_cold_start": False,
        }
    return ok | {
        "consecutive_fast": plus["consecutive_fast"],
        "consecutive_slow": 0,
        "last_was_cold_start": False,
    }


def save_counts(config_ids_by_kind: dict[str, list[int]], at: datetime) -> None:
    """Store the advanced counters of many configs: one UPDATE per reading kind, not per row.

    Call inside atomic() with the configs locked (select_for_update), so `F() + 1` matches what
    `count` did in memory.
    """
    for kind, ids in config_ids_by_kind.items():
        if ids:
            CheckConfig.objects.filter(pk__in=ids).update(updated_at=at, **_counter_updates(kind))


def save_live(services: list[tuple[int, float | None, str]], at: datetime) -> None:
    """Store "checked at, latency, last error" of many services whose status did not move.

    One UPDATE per distinct error text (all healthy services share ""), latencies as a CASE.
    """
    by_error: dict[str, list[tuple[int, float | None]]] = {}
    for pk, latency, error in services:
        by_error.setdefault(error, []).append((pk, latency))
    for error, rows in by_error.items():
        # Cast: a CASE whose branches are all NULL (every probe failed) is text to PostgreSQL.
        latency = Cast(
            Case(
                *(When(pk=pk, then=Value(ms, output_field=FloatField())) for pk, ms in rows),
                output_field=FloatField(),
            ),
            FloatField(),
        )
        Service.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            last_checked_at=at, last_error=error, last_latency_ms=latency
        )


@transaction.atomic  # a savepoint inside the sweep's transaction; its own when called alone
def record_state_change(
    service: Service, old: str, new: str, reason: str, *, at: datetime, live: dict
) -> StateChange | None:
    """Conditional update (status = old) + StateChange + incident + alert; None if it lost a race."""
    moved = Service.objects.filter(pk=service.pk, status=old).update(
        status=new, status_changed_at=at, **live
    )
    if not moved:
        Service.objects.filter(pk=service.pk).update(**live)
        return None
    service.status, service.status_changed_at = new, at
    closed = _close_incidents(service, at) if old in PROBLEMS else []
    incident = None
    if new in PROBLEMS:
        incident = Incident.objects.create(
            service=service, status=new, opened_at=at, first_error=reason
        )
    change = StateChange.objects.create(
        service=service, at=at, from_status=old, to_status=new, reason=reason, incident=incident
    )
    for done in closed:
        # degraded → down: the down alert supersedes it; → unknown: checks were switched off.
        if new in (DOWN, UNKNOWN):
            resolve(incident_key(done))
        else:
            notify(_recovery_event(service, done, new))
    if incident is not None:
        notify(_problem_event(service, incident, reason))
    return change


def _close_incidents(service: Service, at: datetime) -> list[Incident]:
    open_ones = list(Incident.objects.select_for_update().filter(service=service, closed_at=None))
    Incident.objects.filter(pk__in=[i.pk for i in open_ones]).update(closed_at=at)
    for incident in open_ones:
        incident.closed_at = at
    return open_ones


def incident_key(incident: Incident) -> str:
    return f"incident:{incident.pk}"


def _problem_event(service: Service, incident: Incident, reason: str) -> AlertEvent:
    down = incident.status == DOWN
    return AlertEvent(
        kind="down" if down else "degraded",
        severity="critical" if down else "warning",
        title=f"{service.name} is {'DOWN' if down else 'DEGRADED'}",
        body=f"{service.name} ({service.url}) is {status_word(incident.status)} since "
        f"{incident.opened_at:%Y-%m-%d %H:%M:%S} UTC.\n{reason}",
        dedupe_key=incident_key(incident),
        service=service,
        url=service.get_absolute_url(),
        details={
            "service": service.name,
            "status": incident.status,
            "incident_id": incident.pk,
            "opened_at": incident.opened_at.isoformat(),
            "error": reason,
            "latency_ms": service.last_latency_ms,
        },
    )


def _recovery_event(service: Service, incident: Incident, now_status: str) -> AlertEvent:
    seconds = int(incident.duration.total_seconds())
    was, now = status_word(incident.status), status_word(now_status)
    return AlertEvent(
        kind="recovered",
        severity="info",
        title=f"{service.name} recovered: no longer {was} (now {now})",
        body=f"{service.name} was {was} for {format_duration(seconds)} "
        f"(since {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC). Status now: {now}.",
        dedupe_key=f"{incident_key(incident)}:recovered",
        service=service,
        url=service.get_absolute_url(),
        details={
            "resolves": incident_key(incident),
            "service": service.name,
            "status": now_status,
            "incident_id": incident.pk,
            "duration_seconds": seconds,
        },
    )


def format_duration(seconds: float) -> str:
    """3h 05m, 4m 10s, 12s."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"
