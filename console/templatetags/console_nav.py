"""The main menu's links, marked aria-current="page" in the section the viewer is in."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def in_section(path: str, href: str) -> bool:
    """The fleet page is "/" alone; every other section owns the paths under its link."""
    return path == href if href == "/" else path.startswith(href)


@register.simple_tag(takes_context=True)
def nav_link(context: template.Context, url_name: str, label: str) -> SafeString:
    href = reverse(url_name)
    request = context.get("request")
    if request is not None and in_section(request.path, href):
        return format_html('<a href="{}" aria-current="page">{}</a>', href, label)
    return format_html('<a href="{}">{}</a>', href, label)
