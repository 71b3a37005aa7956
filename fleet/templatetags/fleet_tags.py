"""Small template helpers: sort links that keep the other filters, status badges."""

from __future__ import annotations

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_url(context, key: str) -> str:
    """The current query string with `sort` set to key, toggling direction if already sorted by it."""
    params = context["request"].GET.copy()
    current = params.get("sort", "name")
    params["sort"] = f"-{key}" if current == key else key
    params.pop("page", None)
    return "?" + params.urlencode()


@register.simple_tag(takes_context=True)
def sort_mark(context, key: str) -> str:
    current = context["request"].GET.get("sort", "name")
    return "▲" if current == key else "▼" if current == f"-{key}" else ""


@register.simple_tag
def status_badge(status: str) -> str:
    return format_html('<span class="badge status-{}">{}</span>', status, status)


@register.filter
def ms(value) -> str:
    return "—" if value is None else f"{value:.0f} ms"
