"""Login throttling on top of django-axes: slow, then lock, and write the lock to the audit log.

The console login and the admin login both call `authenticate()` with the request, so both pass
`ThrottleBackend` first: a locked user name or address is refused there even with the right
password. Failures are recorded by `ThrottleHandler`, which answers each further failure a little
later (a growing delay) until the limit is reached, and then writes one audit-log row for the lock.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from console.audit import record_action


@dataclass
class LoginName:
    """The audit row's object when the name tried belongs to no user (so has no row to point at)."""

    username: str
    pk: None = None

    def __str__(self) -> str:
        return self.username


def client_address(request: Any) -> str | None:
    """The address to throttle: the connection's own, or behind FLEET_TRUSTED_PROXY_COUNT proxies
    the Nth entry from the right of X-Forwarded-For (each proxy appends the address it saw, so
    entries further left are whatever the client wrote and are never read)."""
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.FLEET_TRUSTED_PROXY_COUNT
    if not count:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < count:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote


class ThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked user or address before any password is checked.

    An authentication without a request (the test client's login(), a shell) has no address to
    throttle by and is left to the next backend instead of being refused outright.
    """

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def slowdown_seconds(failures: int) -> float:
    """How long to hold the answer to the `failures`-th failure (none for the first)."""
    base = settings.FLEET_LOGIN_SLOWDOWN_SECONDS
    if failures < 2 or base <= 0:
        return 0.0
    return min(settings.FLEET_LOGIN_SLOWDOWN_MAX_SECONDS, base * 2 ** (failures - 2))


class ThrottleHandler(AxesDatabaseHandler):
    """django-axes' database handler, plus the slowdown and the audit-log row for each new lock."""

    def user_login_failed(
        self, sender: Any, credentials: dict, request: Any = None, **kwargs: Any
    ) -> None:
        already_locked = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None or already_locked:
            return
        if getattr(request, "axes_locked_out", False):
            record_lock(request, credentials)
            return
        delay = slowdown_seconds(getattr(request, "axes_failures_since_start", 0))
        if delay:
            time.sleep(delay)


def record_lock(request: Any, credentials: dict) -> None:
    """One audit row for a new lock: which name, from which address, for how long."""
    username = get_client_username(request, credentials) or ""
    user = get_user_model().objects.filter(username=username).first() if username else None
    until = timezone.now() + settings.AXES_COOLOFF_TIME
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    where = "admin login" if request.path.startswith("/admin/") else "console login"
    record_action(
        "login throttle",
        "login-locked",
        user or LoginName(username),
        source="ui",
        after={
            "username": username,
            "ip_address": request.axes_ip_address,
            "failures": getattr(request, "axes_failures_since_start", None),
            "locked_until": until.isoformat(timespec="seconds"),
        },
        detail=(
            f"Login locked for {minutes} minutes after {settings.AXES_FAILURE_LIMIT} failed "
            f"attempts on the {where}: user '{username}' from {request.axes_ip_address}. "
            "An admin can unlock it under Admin → Access attempts."
        ),
    )
