"""Bearer-token authentication for the API and the metrics endpoint."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from console.models import ApiToken, hash_token


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
    return user_from_token(raw.strip())


class TokenAuth(HttpBearer):
    """`Authorization: Bearer fc_...`; sets request.user to the token's owner."""

    def authenticate(self, request: HttpRequest, token: str):
        user = user_from_token(token)
        if user is not None:
            request.user = user
        return user
