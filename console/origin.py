"""Where a job was started from, carried to its page as ?from=/path so it can link back.

Only a local path of this console is accepted (never another host, scheme or a protocol-relative
`//host`): a link built from it cannot become an open redirect or send the viewer elsewhere.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme

MAX_LENGTH = 500

# Words for the pages a job may start from: "Back to <label>".
LABELS = {
    "dashboard": "the fleet",
    "budget-list": "budgets",
    "budget-detail": "the budget",
    "fleet-import": "the fleet file",
    "account-list": "accounts",
}


def safe_origin(value: object) -> str | None:
    """`value` when it is a path of this console (with an optional query), else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        return None
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(not c.isprintable() or c.isspace() for c in value) or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.fragment:
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts=None):
        return None
    try:
        resolve(parts.path)
    except Resolver404:
        return None
    return value


def origin_label(path: str) -> str:
    """What to call the page at `path` in a "Back to …" link."""
    match = resolve(urlsplit(path).path)
    if match.url_name == "service-detail":
        return match.kwargs["name"]
    return LABELS.get(match.url_name or "", "the previous page")


def job_url(job_pk: int, origin: str) -> str:
    """The job's page, remembering where it was started from."""
    url = reverse("job-detail", args=[job_pk])
    return f"{url}?{urlencode({'from': origin})}" if safe_origin(origin) else url


def shown_elsewhere(request: HttpRequest) -> bool:
    """An htmx request from a page other than the one it asks for (a fragment shown in place)."""
    htmx = getattr(request, "htmx", None)
    current = htmx.current_url_abs_path if htmx else None
    return bool(current) and urlsplit(current).path != request.path


def job_context(job, origin: str | None, *, in_place: bool) -> dict:
    """What console/job_detail.html needs to show a job and the way back to `origin`."""
    back = safe_origin(origin)
    return {
        "job": job,
        "back_url": back,
        "back_label": origin_label(back) if back else "",
        "back_query": urlencode({"from": back}) if back else "",
        "in_place": bool(back) and in_place,
    }
