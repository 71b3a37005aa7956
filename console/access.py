"""Roles (viewer < operator < admin, as Django groups) and the one place access is checked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse

ROLES = ("viewer", "operator", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
API_PREFIX = "/api/"


def role_of(user) -> str | None:
    """The highest role a user holds; superusers are admins. None for anonymous or role-less users."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return "admin"
    cached = getattr(user, "_fleet_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = next((r for r in reversed(ROLES) if r in names), None)
    user._fleet_role = role
    return role


def has_role(user, needed: str) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[needed]


def role_required(needed: str) -> Callable:
    """View decorator: 403 unless the user holds `needed` or a higher role."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not has_role(request.user, needed):
                raise PermissionDenied(f"This needs the {needed} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def roles_context(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "user_role": role_of(user),
        "can_operate": has_role(user, "operator"),
        "is_console_admin": has_role(user, "admin"),
    }


API_DOCS_URL_NAMES = ("openapi-json", "openapi-view")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _api_role_check(request: HttpRequest, user) -> JsonResponse | None:
    """Every API change needs at least the operator role, checked before the body is parsed.

    The operations check their own (possibly higher) role too; this keeps a viewer's malformed
    change a 403 rather than a 422 that describes the body it may not send anyway.
    """
    if request.method in SAFE_METHODS or has_role(user, "operator"):
        return None
    return JsonResponse({"detail": "This needs the operator role."}, status=403)


class LoginRequiredExceptApiMiddleware(LoginRequiredMiddleware):
    """Login everywhere; the JSON API answers 401 instead of redirecting.

    The API's 401 is decided here, before CSRF or method checks, so a missing or wrong bearer token
    reads the same on every method (ninja's session fallback would otherwise answer a CSRF 403 on
    POST). The OpenAPI schema and docs need a login too, unless FLEET_API_DOCS_PUBLIC is on.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith(API_PREFIX):
            return super().process_view(request, view_func, view_args, view_kwargs)
        if request.user.is_authenticated:
            return _api_role_check(request, request.user)
        match = getattr(request, "resolver_match", None)
        if settings.FLEET_API_DOCS_PUBLIC and match and match.url_name in API_DOCS_URL_NAMES:
            return None
        from console.api_auth import TokenThrottled, user_from_bearer

        try:
            user = user_from_bearer(request)
        except TokenThrottled as exc:
            response = JsonResponse({"detail": str(exc)}, status=429)
            response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
            return response
        if user is not None:
            return _api_role_check(request, user)
        response = JsonResponse(
            {"detail": "Authentication required: send Authorization: Bearer <API token>."},
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
