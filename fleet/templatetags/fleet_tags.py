"""Small template helpers: sort and filter links that keep the rest of the query, status badges
as words, times in the viewer's zone."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from console.wording import kind_word, status_word

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


@register.simple_tag(takes_context=True)
def filter_url(context, key: str, value: str) -> str:
    """The current query (sort and other filters kept, page dropped) with `key` set to value.

    Choosing the value already chosen clears it, so a totals link works as a toggle.
    """
    params = context["request"].GET.copy()
    params.pop("page", None)
    if params.get(key) == value:
        params.pop(key)
    else:
        params[key] = value
    return "?" + params.urlencode()


@register.simple_tag(takes_context=True)
def page_url(context, number: int) -> str:
    """The current query (filters and sort kept) on page `number`."""
    params = context["request"].GET.copy()
    params["page"] = str(number)
    return "?" + params.urlencode()


@register.filter
def status_words(status: str) -> str:
    """A status code as words (console.wording, the one table of them): needs_auth -> needs
    credentials, in_progress -> in progress; no status at all is "unknown"."""
    return status_word(status) or "unknown"


@register.simple_tag
def status_badge(status: str) -> str:
    return format_html('<span class="badge status-{}">{}</span>', status, status_words(status))


@register.filter(name="kind_word")
def kind_word_filter(value) -> str:
    """An alert kind as words: redeploy_failed -> failed redeploy."""
    return kind_word(value)


@register.filter
def ms(value) -> str:
    return "—" if value is None else f"{value:.0f} ms"


@register.filter
def ago(moment: datetime | None) -> str:
    """'3 minutes ago', with the exact time in the viewer's zone as its tooltip; 'never' if None."""
    if not isinstance(moment, datetime):
        return "never"
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" title="{} {}">{}</time>',
        moment.astimezone(UTC).isoformat(timespec="seconds"),
        date_format(local, "j M Y, H:i:s"),
        local.tzname() or "",
        naturaltime(moment),
    )


@register.filter
def local_time(moment: datetime | None, fmt: str = "j M Y, H:i") -> str:
    """The moment in the viewer's zone with the zone's name: '30 Nov 2026, 14:03 CET'."""
    if not isinstance(moment, datetime):
        return "—"
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}">{} {}</time>',
        moment.astimezone(UTC).isoformat(timespec="seconds"),
        date_format(local, fmt),
        local.tzname() or "",
    )
