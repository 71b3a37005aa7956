"""The console's own public URL (CONSOLE_BASE_URL), read strictly: links in alert messages use it.

Alert messages leave the console (webhooks, Slack, email), so a link in them is only useful when it
is absolute. With CONSOLE_BASE_URL set every link is absolute; without it links stay relative to
the console (`/services/notes/`) and Slack messages carry no "Open in console" button.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

EXAMPLE = "https://console.example.com"


def parse_public_url(name: str, raw: str) -> str:
    """`raw` as `scheme://host[:port][/prefix]` without a trailing slash; "" stays "".

    Anything else (another scheme, no host, a user name or password, a query or fragment, a
    port that is not a number) stops startup with ImproperlyConfigured naming the variable.
    """
    raw = raw.strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    problem = _problem(parts, raw)
    if problem:
        shown = "the value" if "@" in raw else repr(raw)  # never echo a password into a log
        raise ImproperlyConfigured(f"{name}: {shown} {problem} (for example {EXAMPLE}).")
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))


def _problem(parts: SplitResult, raw: str) -> str | None:
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if "?" in raw or "#" in raw:  # an empty "?" parses as no query at all
        return "must not have a query (?...) or fragment (#...)"
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if any(c.isspace() for c in parts.netloc + parts.path):
        return "must not contain spaces"
    return None
