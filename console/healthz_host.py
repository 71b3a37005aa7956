"""/healthz answers whatever Host header the prober sends.

Load balancers and orchestrators probe an instance by its own address (an ALB target's IP, a
kubelet's pod IP, a Docker HEALTHCHECK on 127.0.0.1), which is never in ALLOWED_HOSTS, and most of
them cannot set a Host header (AWS target groups cannot). /healthz builds nothing from the Host
header, so for that one path the header is replaced by the first allowed host before Django checks
it; every other path is checked as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEALTHZ_PATH = "/healthz"


def _first_allowed_host() -> str | None:
    for host in settings.ALLOWED_HOSTS:
        host = host.lstrip(".")
        if host and host != "*":
            return host
    return None


class HealthzAnyHostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTHZ_PATH and (host := _first_allowed_host()):
            request.META["HTTP_HOST"] = host
        return self.get_response(request)
