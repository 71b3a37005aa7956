"""Queries behind the audit pages, shaped so their number does not grow with the fleet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Min, OuterRef, Subquery

from checks.audits.catalogue import SECTIONS, section_title
from checks.audits.diff import RunDiff, diff_runs
from checks.audits.models import AuditRun, AuditServiceScore, CustomRule
from checks.audits.services import results_by_service
from fleet.filters import ServiceFilter
from fleet.models import Service


def score_class(value: float | None) -> str:
    """The colour band of a score (CSS class); anything not a number is "not scored"."""
    if not isinstance(value, int | float):
        return "score-none"
    if value >= 90:
        return "score-good"
    if value >= 75:
        return "score-fair"
    if value >= 50:
        return "score-poor"
    return "score-bad"


def sections() -> list[tuple[str, str]]:
    """(key, title) of every section, catalogue first, then custom rules' own sections."""
    keys = list(SECTIONS)
    for section in CustomRule.objects.order_by().values_list("section", flat=True).distinct():
        if section not in keys:
            keys.append(section)
    return [(key, section_title(key)) for key in keys]


@dataclass
class MatrixRow:
    service: Service
    score: AuditServiceScore | None
    cells: list[tuple[str, float | None]] = field(default_factory=list)


@dataclass
class Scorecard:
    filterset: ServiceFilter
    page: Page
    rows: list[MatrixRow]
    sections: list[tuple[str, str]]
    latest_fleet_run: AuditRun | None
    recent_runs: list[AuditRun]
    environments: list[str]
    teams: list[str]


def latest_scores(service_ids: list[int]) -> dict[int, AuditServiceScore]:
    """Each service's score from its newest audit, for one page of services (two queries).

    Score rows are written only when a run succeeds, so no join on the run is needed and the
    (service, -finished_at) index answers each look-up; the look-up runs for the page's
    services only, never for the rows an offset skips.
    """
    latest = AuditServiceScore.objects.filter(service=OuterRef("pk")).order_by(
        "-finished_at", "-id"
    )
    pairs = (
        Service.objects.filter(pk__in=service_ids)
        .annotate(score_id=Subquery(latest.values("id")[:1]))
        .values_list("pk", "score_id")
    )
    by_service = {pk: score_id for pk, score_id in pairs if score_id}
    scores = AuditServiceScore.objects.in_bulk(list(by_service.values()))
    return {pk: scores[score_id] for pk, score_id in by_service.items()}


def scorecard(params, page_number, per_page: int = 50) -> Scorecard:
    """Services (filtered like the dashboard) × sections, from each service's latest audit."""
    base = Service.objects.select_related("account")
    filterset = ServiceFilter(params, queryset=base)
    queryset = filterset.qs.order_by("name") if filterset.is_valid() else base.none()
    page = Paginator(queryset, per_page).get_page(page_number)
    services = list(page)
    scores = latest_scores([s.pk for s in services])
    columns = sections()
    rows = []
    for service in services:
        score = scores.get(service.pk)
        cells = [(key, (score.sections or {}).get(key) if score else None) for key, _ in columns]
        rows.append(MatrixRow(service, score, cells))
    return Scorecard(
        filterset=filterset,
        page=page,
        rows=rows,
        sections=columns,
        latest_fleet_run=AuditRun.objects.filter(
            scope_label="fleet", status=AuditRun.State.SUCCEEDED
        ).first(),
        recent_runs=list(AuditRun.objects.select_related("service")[:8]),
        environments=_distinct("environment"),
        teams=_distinct("team"),
    )


def _distinct(column: str) -> list[str]:
    return list(
        Service.objects.exclude(**{column: ""})
        .order_by(column)
        .values_list(column, flat=True)
        .distinct()
    )


def service_history(service: Service, limit: int = 30) -> list[AuditServiceScore]:
    """The service's scores in its last finished runs, newest first."""
    return list(
        AuditServiceScore.objects.filter(service=service, run__status=AuditRun.State.SUCCEEDED)
        .select_related("run")
        .order_by("-finished_at", "-id")[:limit]
    )


def runs_since(days: int, scope: str = "fleet") -> tuple[AuditRun | None, AuditRun | None]:
    """(baseline, latest) finished runs of one scope for "what changed in the last N days".

    The baseline is the newest run finished at least `days` before the latest one, or the oldest
    run there is when the history is shorter than that; None when there is nothing to compare.
    """
    finished = AuditRun.objects.filter(status=AuditRun.State.SUCCEEDED)
    if scope == "fleet":
        finished = finished.filter(scope_label="fleet")
    else:  # any run that audited the service: its own runs and fleet-wide ones
        finished = finished.filter(service_scores__service_name=scope).distinct()
    latest = finished.order_by("-finished_at", "-id").first()
    if latest is None:
        return None, None
    older = finished.exclude(pk=latest.pk)
    baseline = (
        older.filter(finished_at__lte=latest.finished_at - timedelta(days=days))
        .order_by("-finished_at", "-id")
        .first()
    ) or older.order_by("finished_at", "id").first()
    return baseline, latest


@dataclass
class RunComparison:
    older: AuditRun
    newer: AuditRun
    diff: RunDiff
    compared: list[str]  # services in both runs
    only_older: list[str]
    only_newer: list[str]


def compare_runs(
    first: AuditRun, second: AuditRun, service_name: str | None = None
) -> RunComparison:
    """What changed between two runs (older first), over the services both runs audited
    (or only `service_name`)."""
    older, newer = sorted((first, second), key=lambda r: (r.created_at, r.pk))
    old = results_by_service(older, service_name)
    new = results_by_service(newer, service_name)
    common = sorted(old.keys() & new.keys())
    diff = diff_runs(
        [r for name in common for r in old[name]], [r for name in common for r in new[name]]
    )
    return RunComparison(
        older=older,
        newer=newer,
        diff=diff,
        compared=common,
        only_older=sorted(old.keys() - new.keys()),
        only_newer=sorted(new.keys() - old.keys()),
    )


# --- one run's page ----------------------------------------------------------------------------

# Open or failing first: what a reader of a run acts on.
STATUS_ORDER = [
    "fail",
    "error",
    "warning",
    "needs_attestation",
    "no_evidence",
    "pass",
    "not_applicable",
]


@dataclass
class RuleSummary:
    """One rule across every service of a run: how many services got each status."""

    rule_id: str
    title: str
    section: str
    severity: str
    counts: dict[str, int]

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(status, self.counts.get(status, 0)) for status in STATUS_ORDER]


@dataclass
class RunPage:
    """What a run's page shows, in a bounded number of queries whatever the fleet's size.

    Without a service: a summary per rule (one grouped query) and the services a page at a
    time, worst first. With a service (or a single-service run): that service's card and
    results. With a status or rule filter: the matching results, a page at a time.
    """

    service: str
    status: str
    rule: str
    card: AuditServiceScore | None = None
    results: list = field(default_factory=list)
    rules: list[RuleSummary] = field(default_factory=list)
    services_page: Page | None = None
    results_page: Page | None = None


def run_page(run: AuditRun, params, per_page: int = 50) -> RunPage:
    """The run page's content for the filters in `params` (service, status, rule, page)."""
    view = RunPage(
        service=(params.get("service") or "").strip() or ("" if run.is_fleet else run.scope_label),
        status=(params.get("status") or "").strip(),
        rule=(params.get("rule") or "").strip(),
    )
    if run.status != AuditRun.State.SUCCEEDED:
        return view
    results = run.results.all()
    if view.status:
        results = results.filter(status=view.status)
    if view.rule:
        results = results.filter(rule_id=view.rule)
    if view.service:
        view.card = run.service_scores.filter(service_name=view.service).first()
        view.results = list(results.filter(service_name=view.service).order_by("position"))
        return view
    if view.status or view.rule:
        ordered = results.order_by("service_name", "position")
        view.results_page = Paginator(ordered, per_page).get_page(params.get("page"))
        return view
    view.rules = rule_summaries(run)
    scores = run.service_scores.order_by(F("overall").asc(nulls_last=True), "service_name")
    view.services_page = Paginator(scores, per_page).get_page(params.get("page"))
    return view


def rule_summaries(run: AuditRun) -> list[RuleSummary]:
    """Per rule, the number of services with each status, in catalogue order: stored with the
    run when it finished (no query), or counted in one grouped query for older runs."""
    stored = (run.scores or {}).get("rules")
    if stored:
        return [
            RuleSummary(r["rule_id"], r["title"], r["section"], r["severity"], r["counts"])
            for r in stored
        ]
    rows = (
        run.results.order_by()
        .values("rule_id", "title", "section", "severity", "status")
        .annotate(n=Count("id"), first=Min("position"))
    )
    by_rule: dict[str, RuleSummary] = {}
    order: dict[str, int] = {}
    for row in rows:
        summary = by_rule.setdefault(
            row["rule_id"],
            RuleSummary(row["rule_id"], row["title"], row["section"], row["severity"], {}),
        )
        summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + row["n"]
        order[row["rule_id"]] = min(order.get(row["rule_id"], row["first"]), row["first"])
    return sorted(by_rule.values(), key=lambda s: (order[s.rule_id], s.rule_id))
