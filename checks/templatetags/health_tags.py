"""Template helpers for the health panel: its context, durations and percentages."""

from __future__ import annotations

import json
from datetime import timedelta

from django import template

from checks import panel
from checks.state import format_duration

register = template.Library()


@register.simple_tag
def service_health(service) -> dict:
    """Everything the panel shows for `service` (used as `{% service_health service as h %}`)."""
    return panel.panel_context(service)


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
