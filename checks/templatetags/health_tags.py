"""Template helpers for the health panel: its context, durations and percentages."""

from __future__ import annotations

import json
from datetime import timedelta

from django import template

from checks import charts, panel
from checks.state import format_duration

register = template.Library()


@register.simple_tag
def service_health(service) -> dict:
    """Everything the panel shows for `service` (used as `{% service_health service as h %}`)."""
    return panel.panel_context(service)


@register.simple_tag
def latency_chart(service, range_key: str | None = None) -> dict:
    """The latency percentiles and uptime bars of one range (`{% latency_chart s key as lc %}`)."""
    return charts.latency_chart(service, range_key)


@register.simple_tag
def phase_chart(service) -> dict:
    """The phases of the latest checks as a stacked bar (`{% phase_chart service as pc %}`)."""
    return charts.phase_chart(service)


@register.inclusion_tag("checks/_row_sparkline.html")
def row_sparkline(sparklines: dict, service_id: int) -> dict:
    """A dashboard row's latency sparkline from the page's precomputed set (no query)."""
    return {"spark": sparklines.get(service_id)}


@register.simple_tag
def phase_ms(row: dict, name: str) -> str:
    """One cell of the phase table: the phase's milliseconds, or "—" when it did not run."""
    value = row["phases"].get(name)
    return "—" if value is None else f"{value:.0f} ms"


@register.filter
def duration(value: timedelta | None) -> str:
    return "—" if value is None else format_duration(value.total_seconds())


@register.filter
def pct(value: float | None) -> str:
    if value is None:
        return "—"
    return "100%" if value >= 100 else f"{value:.2f}%"


@register.filter
def as_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
