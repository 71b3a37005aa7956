"""Error shapes shared by every API router: one format for schema and rule violations."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest

from console.access import has_role
from console.api_auth import TokenThrottled
from console.broker import BrokerUnavailable


def require_role(request: HttpRequest, role: str) -> None:
    if not has_role(request.user, role):
        raise PermissionDenied(f"This needs the {role} role.")


def validation_detail(exc: ValidationError, where: str = "body") -> list[dict]:
    """Django ValidationError → the same list shape ninja uses for schema errors.

    `where` is "body" for a request body, "query" for query parameters (GET requests).
    """
    if hasattr(exc, "error_dict"):
        return [
            {"loc": [where, field], "msg": msg, "type": "value_error"}
            for field, msgs in exc.message_dict.items()
            for msg in msgs
        ]
    return [{"loc": [where], "msg": m, "type": "value_error"} for m in exc.messages]


def install_handlers(api) -> None:
    @api.exception_handler(ValidationError)
    def on_validation_error(request, exc):
        where = "query" if request.method in ("GET", "HEAD") else "body"
        return api.create_response(request, {"detail": validation_detail(exc, where)}, status=422)

    @api.exception_handler(PermissionDenied)
    def on_permission_denied(request, exc):
        return api.create_response(request, {"detail": str(exc) or "Forbidden."}, status=403)

    @api.exception_handler(TokenThrottled)
    def on_token_throttled(request, exc):
        response = api.create_response(request, {"detail": str(exc)}, status=429)
        response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
        return response

    @api.exception_handler(BrokerUnavailable)
    def on_broker_unavailable(request, exc):
        response = api.create_response(
            request,
            {"detail": f"Could not start it: {exc}. Nothing was started; try again later."},
            status=503,
        )
        response["Retry-After"] = "30"
        return response

    @api.exception_handler(Http404)
    def on_not_found(request, exc):
        return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)
