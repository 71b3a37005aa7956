"""Audit state changes: start runs, execute them, attest, and customise the catalogue.

Each change is one atomic block with its audit-log row; runs are sent to the worker only after
the transaction commits. `execute_run` is the body of the Celery task and of the CLI.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from checks.audits import gather as gathering
from checks.audits.catalogue import CATALOGUE_VERSION, RULES, RULES_BY_ID
from checks.audits.engine import evaluate_fleet, fleet_score
from checks.audits.evidence import Thresholds
from checks.audits.export import RunMeta
from checks.audits.models import (
    Attestation,
    AuditPolicy,
    AuditResult,
    AuditRun,
    AuditServiceScore,
    CustomRule,
    RuleSetting,
    validate_rule_id,
)
from checks.audits.overrides import ExtraRule, Overrides
from checks.audits.results import (
    DECIDED,
    EvidenceItem,
    RuleResult,
    Severity,
    Status,
    evidence_json,
)
from checks.audits.rule import Rule
from console import limits
from console.audit import record_action, record_actions
from console.broker import send_on_commit
from fleet.models import Service

logger = logging.getLogger(__name__)

SOURCE_FOR_TRIGGER = {
    "manual": "ui",
    "api": "api",
    "cli": "cli",
    "schedule": "system",
    "redeploy": "system",
}


# --- configuration as the engine sees it -------------------------------------------------------


def extra_rules() -> tuple[ExtraRule, ...]:
    return tuple(
        ExtraRule(
            id=c.rule_id,
            section=c.section,
            title=c.title,
            rationale=c.rationale,
            severity=c.severity,
            applies_to=c.applies_to,
            evidence=c.evidence or "An attestation by the person responsible for the service.",
        )
        for c in CustomRule.objects.all()
    )


def current_overrides(policy: AuditPolicy | None = None) -> Overrides:
    """The admin's settings as engine overrides (unknown ids left in the DB are skipped)."""
    policy = policy or AuditPolicy.current()
    extras = extra_rules()
    known = set(RULES_BY_ID) | {e.id for e in extras}
    settings_rows = [s for s in RuleSetting.objects.all() if s.rule_id in known]
    return Overrides(
        disabled=frozenset(s.rule_id for s in settings_rows if not s.enabled),
        severities={s.rule_id: s.severity for s in settings_rows if s.severity},
        attestation_expiry_days=policy.attestation_expiry_days,
        allowed_regions=tuple(policy.allowed_regions or ()),
        extra_rules=extras,
        thresholds=Thresholds(tls_warning_days=float(policy.tls_warning_days)),
    )


def all_rules() -> list[Rule]:
    """The catalogue plus the admin's custom rules, in display order."""
    return [*RULES, *(e.to_rule() for e in extra_rules())]


def manual_rules() -> list[Rule]:
    return [r for r in all_rules() if r.mode == "manual" or r.attestable]


# --- runs --------------------------------------------------------------------------------------


def _actor_label(actor: Any, trigger: str) -> str:
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", "") or trigger


def create_run(
    *, actor: Any, trigger: str, service: Service | None = None, enqueue: bool = True
) -> AuditRun:
    """Record a queued run (audit-logged) and, unless told not to, send it to the worker."""
    if trigger not in AuditRun.Trigger.values:
        raise ValidationError({"trigger": f"Unknown trigger '{trigger}'."})
    with transaction.atomic():
        run = AuditRun.objects.create(
            service=service,
            scope_label=service.name if service else "fleet",
            trigger=trigger,
            triggered_by=actor if getattr(actor, "pk", None) else None,
            triggered_by_label=_actor_label(actor, trigger),
            catalogue_version=CATALOGUE_VERSION,
        )
        record_action(
            actor or trigger,
            "audit",
            run,
            source=SOURCE_FOR_TRIGGER[trigger],
            after={"scope": run.scope_label, "trigger": trigger},
        )
        if enqueue:
            from checks.audits.tasks import run_audit_task

            send_on_commit(run_audit_task, run.pk, on_failure=lambda why: fail_unsent_run(run, why))
    return run


def fail_unsent_run(run: AuditRun, reason: str) -> None:
    """End a run whose task never reached a worker, so its page stops polling."""
    AuditRun.objects.filter(pk=run.pk, status=AuditRun.State.QUEUED).update(
        status=AuditRun.State.FAILED, error=f"Not started: {reason}", finished_at=timezone.now()
    )


def request_audit(service: Service, trigger: str = "redeploy", actor: Any = None) -> AuditRun:
    """Audit one service in the background (called after a redeploy, by the cloud engineer)."""
    return create_run(actor=actor, trigger=trigger, service=service)


# A run still "running" this long after it started lost its worker (killed, out of memory,
# machine gone): nothing will finish it, so the next audit marks it failed and the page stops
# polling. Generous, so a slow audit of a large fleet is never cut short.
STALLED_AFTER = timedelta(hours=6)


def fail_stalled_runs(now: datetime | None = None) -> int:
    """Mark runs whose worker vanished as failed, with the reason; returns how many."""
    now = now or timezone.now()
    return AuditRun.objects.filter(
        status=AuditRun.State.RUNNING, started_at__lt=now - STALLED_AFTER
    ).update(
        status=AuditRun.State.FAILED,
        finished_at=now,
        error=(
            f"No worker finished this run within {STALLED_AFTER.total_seconds() / 3600:g} "
            "hours of its start (the worker stopped); start a new audit."
        ),
    )


def execute_run(run: AuditRun, log: Callable[[str], None] | None = None) -> AuditRun:
    """Gather evidence once per service, evaluate every rule, store results and scores.

    A rule that raises is an `error` result (the engine's contract); anything else that fails
    marks the run failed with the reason. Runs whose worker vanished are failed first.
    """
    fail_stalled_runs()
    AuditRun.objects.filter(pk=run.pk).update(
        status=AuditRun.State.RUNNING, started_at=timezone.now()
    )
    run.refresh_from_db()
    try:
        _evaluate_into(run, log or (lambda line: None))
    except Exception as exc:
        logger.exception("audit run %s failed", run.pk)
        run.status, run.error = AuditRun.State.FAILED, f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
    return run


def _services_in_scope(run: AuditRun) -> list[Service]:
    qs = Service.objects.select_related("account").order_by("name")
    if run.is_fleet:
        return list(qs)
    if run.service_id is None:
        raise RuntimeError(f"the service '{run.scope_label}' was deleted before the audit ran")
    return list(qs.filter(pk=run.service_id))


def _evaluate_into(run: AuditRun, log: Callable[[str], None]) -> None:
    """Gather and evaluate first (network reads, outside any transaction), then store every
    result and score in one atomic block, so a failure never leaves a run half-written."""
    policy = AuditPolicy.current()
    overrides = current_overrides(policy)
    known = set(RULES_BY_ID) | {e.id for e in overrides.extra_rules}
    services = _services_in_scope(run)
    reads = {key for rule in RULES if rule.id not in overrides.disabled for key in rule.reads}
    evidences = gathering.gather(services, policy, known, log, reads=sorted(reads))
    with _collector_paused():
        _decide_and_store(run, services, evidences, overrides)
    log(f"Audited {len(services)} service(s) against {len(RULES)} catalogue rules.")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a run evaluates and stores its results.

    A fleet run keeps a million small objects alive at once (results, their evidence lines);
    each full collection traverses all of them, and as the heap grew the collector made several
    full passes: a third of the run's CPU at 5,000 services. Reference counting still frees
    everything else meanwhile; this part of the run makes no network calls, and the collector
    resumes (when it was on) as the block ends, even on an error.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _decide_and_store(
    run: AuditRun, services: list[Service], evidences: dict, overrides: Overrides
) -> None:
    """Evaluate every rule for every service, score, and store it all in one atomic block."""
    now = timezone.now()
    by_service = evaluate_fleet([evidences[s.name] for s in services], RULES, overrides, now=now)
    fleet = fleet_score(by_service)
    run.finished_at = timezone.now()
    scores = []
    for service in services:
        card = fleet.services[service.name]
        scores.append(
            AuditServiceScore(
                run=run,
                service=service,
                service_name=service.name,
                overall=card.overall,
                sections=card.sections,
                counts=card.counts,
                coverage=card.coverage.as_dict(),
                sources=[item.as_dict() for item in evidences[service.name].sources()],
                finished_at=run.finished_at,
            )
        )
    run.scores = {**fleet.summary(), "rules": rule_counts(by_service)}
    run.status = AuditRun.State.SUCCEEDED
    with transaction.atomic():
        # A service deleted while the run gathered keeps its results under its name (as the
        # models do for services deleted later) instead of failing the whole run.
        alive = _alive_ids(services)
        for score in scores:
            if score.service_id not in alive:
                score.service = None
        _insert_results(run, services, by_service, alive)
        _insert_scores(scores)
        run.save(update_fields=["status", "error", "finished_at", "scores"])


def rule_counts(by_service: dict[str, list[RuleResult]]) -> list[dict]:
    """Per rule, in catalogue order, how many services got each status (the run page's summary)."""
    rules: dict[str, dict] = {}
    for results in by_service.values():
        for r in results:
            entry = rules.setdefault(
                r.rule_id,
                {
                    "rule_id": r.rule_id,
                    "title": r.title,
                    "section": r.section,
                    "severity": str(r.severity),
                    "counts": {},
                },
            )
            entry["counts"][str(r.status)] = entry["counts"].get(str(r.status), 0) + 1
    return list(rules.values())


_RESULT_COLUMNS = (
    "run_id",
    "service_id",
    "service_name",
    "rule_id",
    "section",
    "title",
    "mode",
    "status",
    "basis",
    "severity",
    "message",
    "evidence",
    "position",
)


def _insert_results(
    run: AuditRun,
    services: list[Service],
    by_service: dict[str, list[RuleResult]],
    alive: set[int],
    batch: int = 2000,
) -> None:
    """Insert every result row as plain tuples: COPY on PostgreSQL, batched INSERTs elsewhere.

    A fleet run writes one row per service and rule (215,000 for 5,000 services); building a
    model instance per row and compiling it through the ORM took most of the run's time, so
    the rows go in as tuples. The columns are AuditResult's own.
    """
    table = connection.ops.quote_name(AuditResult._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _RESULT_COLUMNS)

    def rows():
        for service in services:
            service_id = service.pk if service.pk in alive else None
            for position, r in enumerate(by_service[service.name]):
                yield (
                    run.pk,
                    service_id,
                    service.name,
                    r.rule_id,
                    r.section,
                    r.title[:200],
                    r.mode,
                    str(r.status),
                    r.basis,
                    str(r.severity),
                    r.message,
                    evidence_json(r.evidence),
                    position,
                )

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams every row in one statement: several times faster than INSERTs.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(_RESULT_COLUMNS))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
        pending: list[tuple] = []
        for row in rows():
            pending.append(row)
            if len(pending) >= batch:
                cursor.executemany(sql, pending)
                pending = []
        if pending:
            cursor.executemany(sql, pending)


_SCORE_COLUMNS = (
    "run_id",
    "service_id",
    "service_name",
    "overall",
    "sections",
    "counts",
    "coverage",
    "sources",
    "finished_at",
)


def _insert_scores(scores: list[AuditServiceScore]) -> None:
    """The services' score rows: COPY on PostgreSQL, bulk_create elsewhere.

    On PostgreSQL Django 5.2's bulk_create sends each column as one array (INSERT ... UNNEST),
    and quoting the JSON columns as array elements cost more than the rest of the write.
    """
    if connection.vendor != "postgresql":
        AuditServiceScore.objects.bulk_create(scores, batch_size=2000)
        return
    table = connection.ops.quote_name(AuditServiceScore._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _SCORE_COLUMNS)
    adapt = connection.ops.adapt_json_value
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for score in scores:
            copy.write_row(
                (
                    score.run_id,
                    score.service_id,
                    score.service_name,
                    score.overall,
                    adapt(score.sections, None),
                    adapt(score.counts, None),
                    adapt(score.coverage, None),
                    adapt(score.sources, None),
                    score.finished_at,
                )
            )


def _alive_ids(services: list[Service]) -> set[int]:
    """Ids of the services that still exist (one query)."""
    if len(services) <= gathering.BULK_CHUNK:
        return set(
            Service.objects.filter(pk__in=[s.pk for s in services]).values_list("pk", flat=True)
        )
    return set(Service.objects.values_list("pk", flat=True))


# --- reading runs back -------------------------------------------------------------------------


def results_by_service(
    run: AuditRun, service_name: str | None = None
) -> dict[str, list[RuleResult]]:
    """The run's stored results as engine objects, for diffs (exports stream `iter_results`)."""
    rows = run.results.order_by("service_name", "position")
    if service_name:
        rows = rows.filter(service_name=service_name)
    fixes = fix_texts()
    grouped: dict[str, list[RuleResult]] = {}
    for row in rows.iterator(chunk_size=2000):
        grouped.setdefault(row.service_name, []).append(result_of(row, fixes))
    return grouped


def fix_texts() -> dict[str, str]:
    """Rule id -> how to fix it, for the catalogue and the admin's custom rules."""
    return {rule.id: rule.fix for rule in all_rules()}


def result_of(row: AuditResult, fixes: dict[str, str]) -> RuleResult:
    """A stored result as the engine's RuleResult (older rows get their basis from the mode)."""
    status = Status(row.status)
    basis = row.basis
    if not basis and status in DECIDED:
        basis = "attestation" if row.mode == "manual" else "evidence"
    return RuleResult(
        rule_id=row.rule_id,
        service=row.service_name,
        section=row.section,
        title=row.title,
        severity=Severity(row.severity),
        mode=row.mode,
        status=status,
        message=row.message,
        evidence=[evidence_item(e) for e in row.evidence],
        basis=basis,
        fix=fixes.get(row.rule_id, ""),
    )


def evidence_item(data: dict) -> EvidenceItem:
    """A stored evidence line (its as_dict form) as an EvidenceItem."""
    when = data.get("observed_at")
    return EvidenceItem(
        data.get("label", ""),
        data.get("value", ""),
        data.get("source", ""),
        datetime.fromisoformat(when) if when else None,
    )


def run_meta(run: AuditRun) -> RunMeta:
    return RunMeta(
        id=str(run.pk),
        started_at=run.started_at or run.created_at,
        finished_at=run.finished_at,
        triggered_by=f"{run.triggered_by_label} ({run.get_trigger_display()})",
        catalogue_version=run.catalogue_version or CATALOGUE_VERSION,
    )


# --- attestations ------------------------------------------------------------------------------

NOTE_MAX_CHARS = 4000  # an attestation's note: what was checked and how, not a document


def attest(
    *, actor: Any, source: str, rule_id: str, note: str, service: Service | None = None
) -> Attestation:
    """Record that a manual rule holds for a service (or, service None, the whole fleet)."""
    rule_id = (rule_id or "").strip()
    if not rule_id:
        raise ValidationError({"rule": "Choose the rule you are attesting."})
    validate_rule_id(rule_id, manual_only=True)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "A note is required: say what was checked and how."})
    if len(note) > NOTE_MAX_CHARS:
        raise ValidationError(
            {"note": f"The note is {len(note):,} characters; keep it to {NOTE_MAX_CHARS:,}."}
        )
    policy = AuditPolicy.current()
    with transaction.atomic():
        now = timezone.now()
        attestation = Attestation(
            service=service,
            rule_id=rule_id,
            by=actor if getattr(actor, "pk", None) else None,
            by_label=_actor_label(actor, source),
            note=note,
            at=now,
            expires_at=policy.expiry_for(now),
        )
        attestation.full_clean()
        attestation.save()
        record_action(
            actor,
            "attest",
            attestation,
            source=source,
            after={
                "rule": rule_id,
                "service": service.name if service else "all services",
                "note": note,
                "expires_at": attestation.expires_at.isoformat(),
            },
        )
    return attestation


@dataclass
class BulkPreview:
    """Who a bulk attestation covers, checked but not yet written (the confirm step shows it)."""

    rule_id: str
    note: str
    selection: str  # "team platform, tag demo" or "services a, b"
    services: list[Service]  # the rule applies to these
    skipped: list[str]  # selected, but the rule does not concern their kind
    expires_at: datetime

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]


@dataclass
class BulkAttestation:
    """What one bulk attestation did."""

    rule_id: str
    selection: str
    services: list[str]  # attested, by name
    skipped: list[str]
    expires_at: datetime
    attestations: list[Attestation] = field(default_factory=list)


def preview_bulk(
    *,
    rule_id: str,
    note: str,
    team: str = "",
    environment: str = "",
    tag: str = "",
    services: Iterable[str] = (),
    expires_on: date | str | None = None,
    now: datetime | None = None,
) -> BulkPreview:
    """Check a bulk attestation and find the services it covers; ValidationError naming the
    field (rule, note, selection, services, expires_on) when something is wrong."""
    rule_id = (rule_id or "").strip()
    if not rule_id:
        raise ValidationError({"rule": "Choose the rule you are attesting."})
    validate_rule_id(rule_id, manual_only=True)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "A note is required: say what was checked and how."})
    if len(note) > NOTE_MAX_CHARS:
        raise ValidationError(
            {"note": f"The note is {len(note):,} characters; keep it to {NOTE_MAX_CHARS:,}."}
        )
    now = now or timezone.now()
    expires_at = _bulk_expiry(expires_on, AuditPolicy.current(), now)
    chosen, selection = select_services(
        team=team, environment=environment, tag=tag, names=list(services)
    )
    rule = next(r for r in all_rules() if r.id == rule_id)
    applies = [s for s in chosen if rule.applies(s.kind)]
    skipped = sorted(s.name for s in chosen if not rule.applies(s.kind))
    if not applies:
        raise ValidationError(
            {"rule": f"'{rule_id}' does not apply to any selected service ({', '.join(skipped)})."}
        )
    return BulkPreview(rule_id, note, selection, applies, skipped, expires_at)


def attest_bulk(*, actor: Any, source: str, **spec: Any) -> BulkAttestation:
    """Attest one manual rule for every service matching all the given selectors, in one step.

    `spec` is what `preview_bulk` takes. One transaction: either every selected service gets its
    attestation and its own audit-log row, or none does. Services of a kind the rule does not
    concern are skipped and reported.
    """
    now = timezone.now()
    plan = preview_bulk(now=now, **spec)
    label = _actor_label(actor, source)
    user = actor if getattr(actor, "pk", None) else None
    with transaction.atomic():
        rows = Attestation.objects.bulk_create(
            [
                Attestation(
                    service=service,
                    rule_id=plan.rule_id,
                    by=user,
                    by_label=label,
                    note=plan.note,
                    at=now,
                    expires_at=plan.expires_at,
                )
                for service in plan.services
            ],
            batch_size=1000,
        )
        record_actions(
            actor,
            "attest",
            [
                (
                    row,
                    {
                        "rule": plan.rule_id,
                        "service": row.service.name,
                        "note": plan.note,
                        "expires_at": plan.expires_at.isoformat(),
                        "selection": plan.selection,
                    },
                )
                for row in rows
            ],
            source=source,
            detail=(
                f"Bulk attestation of {plan.rule_id} for {len(rows)} service(s): {plan.selection}."
            ),
        )
    return BulkAttestation(
        plan.rule_id, plan.selection, plan.names, plan.skipped, plan.expires_at, rows
    )


def select_services(
    *, team: str = "", environment: str = "", tag: str = "", names: list[str] | None = None
) -> tuple[list[Service], str]:
    """Services matching every given selector, and the selection in words; ValidationError when
    nothing is selected, a named service does not exist or nothing matches."""
    team, environment, tag = (team or "").strip(), (environment or "").strip(), (tag or "").strip()
    names = sorted({n.strip() for n in names or () if n and n.strip()})
    if not (team or environment or tag or names):
        raise ValidationError(
            {"selection": "Choose a team, an environment, a tag or services to attest for."}
        )
    queryset = Service.objects.order_by("name")
    words = []
    if names:
        queryset = queryset.filter(name__in=names)
        found = set(queryset.values_list("name", flat=True))
        missing = [n for n in names if n not in found]
        if missing:
            quoted = ", ".join(f"'{n}'" for n in missing)
            raise ValidationError({"services": f"No service named {quoted}."})
        words.append(f"services {', '.join(names)}")
    if team:
        queryset = queryset.filter(team=team)
        words.append(f"team {team}")
    if environment:
        queryset = queryset.filter(environment=environment)
        words.append(f"environment {environment}")
    if tag:
        # The JSON list holds the tag as a quoted string; the exact match is checked below.
        queryset = queryset.filter(tags__icontains=f'"{tag}"')
        words.append(f"tag {tag}")
    chosen = [s for s in queryset if not tag or tag in (s.tags or [])]
    selection = ", ".join(words)
    if not chosen:
        _unknown_selector(team, environment, tag)
        raise ValidationError({"selection": f"No service matches {selection}."})
    return chosen, selection


def _unknown_selector(team: str, environment: str, tag: str) -> None:
    """A ValidationError naming the field when a team, environment or tag is on no service at
    all (a typo), with the values in use; nothing when each exists and only the mix is empty."""
    for selector, value in (("team", team), ("environment", environment)):
        if value and not Service.objects.filter(**{selector: value}).exists():
            values = Service.objects.exclude(**{selector: ""}).values_list(selector, flat=True)
            known = _known(sorted(set(values)))
            raise ValidationError({selector: f"No service has the {selector} '{value}'.{known}"})
    if not tag:
        return
    tagged = Service.objects.filter(tags__icontains=f'"{tag}"').values_list("tags", flat=True)
    if not any(tag in (tags or []) for tags in tagged):
        every = Service.objects.values_list("tags", flat=True)
        known = _known(sorted({t for tags in every for t in tags or []}))
        raise ValidationError({"tag": f"No service carries the tag '{tag}'.{known}"})


def _known(values: list[str], shown: int = 12) -> str:
    if not values:
        return ""
    more = f" and {len(values) - shown} more" if len(values) > shown else ""
    return f" In use: {', '.join(values[:shown])}{more}."


def _bulk_expiry(value: date | str | None, policy: AuditPolicy, now: datetime) -> datetime:
    """The end of the chosen day (UTC), bounded by the policy's maximum age; the policy's
    expiry when no day is chosen."""
    longest = policy.expiry_for(now)
    if value in (None, ""):
        return longest
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(
                {"expires_on": f"'{value}' is not a date like 2027-01-31 (YYYY-MM-DD)."}
            ) from None
    today = now.astimezone(UTC).date()
    if value <= today:
        raise ValidationError(
            {"expires_on": f"The expiry must be after today ({today.isoformat()})."}
        )
    if value > longest.astimezone(UTC).date():
        raise ValidationError(
            {
                "expires_on": (
                    f"Attestations may run at most {policy.attestation_expiry_days} days ahead "
                    f"(the audit policy): on or before {longest.date().isoformat()}."
                )
            }
        )
    # The last second of the chosen day, so every page shows the day that was chosen (midnight
    # of the next day read as "valid until 21 Dec" for a choice of 20 Dec).
    end_of_day = datetime.combine(value, time(23, 59, 59), tzinfo=UTC)
    return min(end_of_day, longest)


def revoke_attestation(*, actor: Any, source: str, attestation: Attestation) -> None:
    with transaction.atomic():
        before = {
            "rule": attestation.rule_id,
            "service": attestation.service.name if attestation.service_id else "all services",
            "by": attestation.by_label,
            "note": attestation.note,
        }
        record_action(actor, "revoke", attestation, source=source, before=before)
        attestation.delete()


# --- customisation (admins) --------------------------------------------------------------------


def update_rule_setting(
    *, actor: Any, source: str, rule_id: str, enabled: bool, severity: str = ""
) -> RuleSetting:
    """Enable/disable a rule and set (or clear, with "") its severity override."""
    validate_rule_id(rule_id)
    if severity and severity not in Severity._value2member_map_:
        raise ValidationError(
            {"severity": f"Unknown severity '{severity}'; use one of {', '.join(Severity)}."}
        )
    with transaction.atomic():
        setting = RuleSetting.objects.select_for_update().filter(rule_id=rule_id).first()
        before = {"enabled": setting.enabled, "severity": setting.severity} if setting else None
        setting = setting or RuleSetting(rule_id=rule_id)
        setting.enabled, setting.severity = enabled, severity
        setting.save()
        after = {"enabled": enabled, "severity": severity}
        if before != after:
            record_action(actor, "update", setting, source=source, before=before, after=after)
    return setting


POLICY_FIELDS = (
    "attestation_expiry_days",
    "allowed_regions",
    "oldest_protocol_version",
    "tls_warning_days",
)


def policy_state(policy: AuditPolicy) -> dict:
    return {f: getattr(policy, f) for f in POLICY_FIELDS}


def update_policy(*, actor: Any, source: str, changes: dict) -> AuditPolicy:
    """Change the fleet-wide audit policy; validated, audit-logged."""
    with transaction.atomic():
        policy = AuditPolicy.current()
        before = policy_state(policy)
        for field, value in changes.items():
            if field not in POLICY_FIELDS:
                raise ValidationError({field: "Not an audit policy setting."})
            setattr(policy, field, value)
        problems = limits.number_problems(changes, ("attestation_expiry_days", "tls_warning_days"))
        if problems:
            raise ValidationError(problems)
        policy.full_clean()
        policy.save()
        after = policy_state(policy)
        if before != after:
            record_action(actor, "update", policy, source=source, before=before, after=after)
    return policy


CUSTOM_FIELDS = ("section", "title", "rationale", "evidence", "severity", "applies_to")


def create_custom_rule(*, actor: Any, source: str, spec: dict) -> CustomRule:
    with transaction.atomic():
        rule = CustomRule(rule_id=(spec.get("rule_id") or "").strip())
        for field in CUSTOM_FIELDS:
            if spec.get(field) not in (None, ""):
                setattr(rule, field, str(spec[field]).strip())
        rule.full_clean()
        rule.save()
        record_action(
            actor,
            "create",
            rule,
            source=source,
            after={"rule_id": rule.rule_id, **{f: getattr(rule, f) for f in CUSTOM_FIELDS}},
        )
    return rule


def delete_custom_rule(*, actor: Any, source: str, rule: CustomRule) -> None:
    with transaction.atomic():
        before = {"rule_id": rule.rule_id, **{f: getattr(rule, f) for f in CUSTOM_FIELDS}}
        record_action(actor, "delete", rule, source=source, before=before)
        RuleSetting.objects.filter(rule_id=rule.rule_id).delete()
        Attestation.objects.filter(rule_id=rule.rule_id).delete()
        rule.delete()
