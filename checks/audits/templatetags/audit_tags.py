"""Template helpers for audit pages: score colours, percentages, sparklines, the service card."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from checks.audits import scorecard
from checks.audits.export import coverage_sentence
from checks.audits.models import Attestation, AuditResult, AuditRun
from checks.audits.results import STATUS_WORDS
from checks.audits.services import manual_rules

register = template.Library()


@register.filter
def score_class(value) -> str:
    return scorecard.score_class(value)


@register.filter
def pct(value) -> str:
    return f"{value:.0f}%" if isinstance(value, int | float) else "—"


@register.filter
def label(value) -> str:
    """A status or trigger key as words: needs_attestation -> needs attestation."""
    return STATUS_WORDS.get(str(value or ""), str(value or "").replace("_", " "))


@register.simple_tag
def verdict(status) -> str:
    """A result's status as a coloured badge that reads as words ("needs attestation")."""
    return format_html('<span class="badge status-{}">{}</span>', status, label(status))


@register.filter
def when(value, fmt: str = "j M Y, H:i") -> str:
    """A moment (datetime or stored ISO text) in the viewer's time zone, as words and minutes.

    Renders <time datetime="…" title="… UTC">30 Nov 2026, 13:03 CET</time>; the zone is the one
    the browser reported (console.timezones), UTC until it has.
    """
    moment = _moment(value)
    if moment is None:
        return "—" if not value else str(value)
    local = timezone.localtime(moment)
    utc = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        date_format(local, fmt),
        local.tzname() or "",
    )


_ISO_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?$")


@register.filter
def change_value(value):
    """A recorded value as the audit log shows it: a stored moment (ISO text such as an
    attestation's expiry) reads as a local time, anything else as it is."""
    if isinstance(value, str) and _ISO_MOMENT.match(value):
        return when(value)
    return value


def _moment(value) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@register.filter
def coverage_text(coverage) -> str:
    """'31 of 44 rules decided (70.5 %): 28 from evidence, 3 attested, 13 open.'"""
    return coverage_sentence(coverage)


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.inclusion_tag("audits/_sparkline.html")
def sparkline(values, width: int = 160, height: int = 32):
    """A server-rendered SVG line of scores (0–100), oldest first; gaps for unscored runs."""
    values = list(values or [])
    n = len(values)
    step = (width - 4) / (n - 1) if n > 1 else 0
    points = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = 2 + i * step if n > 1 else width / 2
        y = 2 + (height - 4) * (1 - max(0.0, min(100.0, float(value))) / 100)
        points.append((round(x, 1), round(y, 1)))
    last = next((v for v in reversed(values) if v is not None), None)
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "dots": points[-1:] if points else [],
        "single": len(points) == 1,
        "last": last,
        "count": n,
        "cls": scorecard.score_class(last),
    }


@register.simple_tag
def service_audit(service) -> dict:
    """What the service page's audit card shows: latest scores, trend, manual rules' state
    (attestation, else the latest audit's verdict from evidence)."""
    history = scorecard.service_history(service, limit=20)
    latest = history[0] if history else None
    newest: dict[str, Attestation] = {}
    rows = Attestation.objects.filter(service=service) | Attestation.objects.filter(
        service__isnull=True
    )
    for row in rows.order_by("at", "id"):
        current = newest.get(row.rule_id)
        # The service's own attestation wins over a fleet-wide one of the same age or older.
        if current is None or row.service_id or not current.service_id:
            newest[row.rule_id] = row
    attestable = [rule for rule in manual_rules() if rule.applies(service.kind)]
    # What the latest audit decided from evidence: an attestable rule the platform showed is not
    # waiting for a person, so the card says its verdict instead of "needs attestation".
    decided: dict[str, str] = {}
    if latest is not None:
        decided = dict(
            AuditResult.objects.filter(
                run_id=latest.run_id,
                service_name=service.name,
                rule_id__in=[rule.id for rule in attestable],
                basis="evidence",
            ).values_list("rule_id", "status")
        )
    manual = [(rule, newest.get(rule.id), decided.get(rule.id, "")) for rule in attestable]
    return {
        "latest": latest,
        "trend": [h.overall for h in reversed(history)],
        "sections": scorecard.sections(),
        "manual": manual,
        "pending": AuditRun.objects.filter(
            service=service, status__in=[AuditRun.State.QUEUED, AuditRun.State.RUNNING]
        ).first(),
        "now": timezone.now(),
    }
