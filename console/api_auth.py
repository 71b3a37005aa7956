"""Bearer-token authentication for the API and the metrics endpoint.

Wrong tokens are counted per client address (in the shared cache); past
FLEET_API_TOKEN_FAILURE_LIMIT within FLEET_LOGIN_LOCK_MINUTES that address gets 429 for the rest
of the window, even with a good token, and the lock is written to the audit log once.
"""

from __future__ import annotations

import logging

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from console.models import ApiToken, hash_token

logger = logging.getLogger(__name__)


class TokenThrottled(Exception):
    """Too many wrong tokens from this address: answered with 429."""


def _failures_key(address: str) -> str:
    return f"fleet:api-token-failures:{address}"


def _lock_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _check_not_locked(address: str) -> None:
    try:
        failures = cache.get(_failures_key(address), 0)
    except Exception:  # the cache (Redis) is down: do not lock everyone out with it
        logger.exception("API token throttle: cache unavailable")
        return
    if failures >= settings.FLEET_API_TOKEN_FAILURE_LIMIT:
        raise TokenThrottled(
            f"Too many wrong API tokens from this address: try again in "
            f"{_lock_seconds() // 60} minutes."
        )


def _note_failure(address: str) -> None:
    key = _failures_key(address)
    try:
        cache.add(key, 0, timeout=_lock_seconds())
        failures = cache.incr(key)
    except Exception:
        logger.exception("API token throttle: cache unavailable")
        return
    if failures == settings.FLEET_API_TOKEN_FAILURE_LIMIT:
        from console.audit import record_action
        from console.login_throttle import LoginName

        record_action(
            "login throttle",
            "api-token-locked",
            LoginName(address),
            source="api",
            after={"ip_address": address, "failures": failures},
            detail=f"API requests from {address} refused for {_lock_seconds() // 60} minutes "
            f"after {failures} wrong bearer tokens.",
        )


def user_from_request_token(request: HttpRequest, raw: str):
    """The token's user, counting a wrong token against the caller's address.

    Raises TokenThrottled while that address is locked. A token already accepted for this request
    (the access middleware checks it before ninja does) is not looked up again.
    """
    known = getattr(request, "_fleet_bearer", None)
    if known is not None and known[0] == raw:
        return known[1]
    address = get_client_ip_address(request) or "unknown"
    _check_not_locked(address)
    user = user_from_token(raw)
    if user is None:
        _note_failure(address)
    else:
        request._fleet_bearer = (raw, user)
    return user


def user_from_token(raw: str):
    """The active user a raw token belongs to, or None. Records when it was last used."""
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def user_from_bearer(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return None
    return user_from_request_token(request, raw.strip())


class TokenAuth(HttpBearer):
    """`Authorization: Bearer fc_...`; sets request.user to the token's owner."""

    def authenticate(self, request: HttpRequest, token: str):
        user = user_from_request_token(request, token)
        if user is not None:
            request.user = user
        return user
