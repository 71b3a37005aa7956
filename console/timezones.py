"""Show times in the viewer's own time zone: the browser reports it in the `tz` cookie.

`static/console/console.js` sets the cookie from `Intl.DateTimeFormat().resolvedOptions()`
(a static script, so the Content Security Policy stays strict). Only real IANA zone names are
accepted; anything else, or no cookie yet, leaves the console's TIME_ZONE (UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

COOKIE = "tz"


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


def viewer_zone(request: HttpRequest) -> ZoneInfo | None:
    """The zone the viewer's browser reported, when it is a known IANA name."""
    name = request.COOKIES.get(COOKIE, "").strip()
    if not name or len(name) > 64 or name not in _known():
        return None
    return ZoneInfo(name)


class ViewerTimeZoneMiddleware:
    """Activate the viewer's time zone for the request, so templates render local times."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = viewer_zone(request)
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
