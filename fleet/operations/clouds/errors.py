"""Errors the cloud adapters raise, one hierarchy for every platform.

Each message names the permission and the resource involved, so the person reading it in the console
knows what to grant or fix without opening the cloud's audit log.
"""

from __future__ import annotations


class CloudError(Exception):
    """A cloud API call failed; `retryable` says whether trying again later may help."""

    retryable = False
    kind = "Cloud error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        permission: str = "",
        resource: str = "",
        status: int | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.permission = permission
        self.resource = resource
        self.status = status
        self.detail = detail
        self.attempts = 1
        # Seconds the API asked us to wait (a Retry-After header on 429/503), when it said.
        self.retry_after_s: float | None = None

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (gave up after {self.attempts} attempts)"
        return self.message


class PermissionDenied(CloudError):
    kind = "Permission denied"


class NotFound(CloudError):
    kind = "Not found"


class Throttled(CloudError):
    kind = "Throttled"
    retryable = True


class Unavailable(CloudError):
    kind = "Cloud unavailable"
    retryable = True


class Timeout(CloudError):
    kind = "Timed out"


class InvalidRequest(CloudError):
    kind = "Invalid request"


class EndpointRefused(CloudError):
    """An account's endpoint override may not receive cloud credentials (see credentials.py)."""

    kind = "Endpoint override refused"


_KIND_BY_STATUS: dict[int, type[CloudError]] = {
    400: InvalidRequest,
    401: PermissionDenied,
    403: PermissionDenied,
    404: NotFound,
    408: Timeout,
    409: InvalidRequest,
    412: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: Throttled,
}


def error_class_for_status(status: int | None) -> type[CloudError]:
    """The CloudError subclass an HTTP status maps to (5xx and unknown codes are Unavailable)."""
    if status is None:
        return Unavailable
    return _KIND_BY_STATUS.get(status, Unavailable if status >= 500 else InvalidRequest)


def build_error(
    cls: type[CloudError],
    *,
    provider: str,
    account: str,
    permission: str,
    resource: str,
    detail: str = "",
    status: int | None = None,
    hint: str = "",
) -> CloudError:
    """An error whose message says what failed, the permission and resource, and what to do."""
    said = f" The cloud said: {detail.strip()}" if detail.strip() else ""
    who = f"account '{account}'" if account else "this account"
    if cls is PermissionDenied:
        text = (
            f"Permission denied: {who} needs '{permission}' on {resource}."
            f"{' ' + hint if hint else ''}{said}"
        )
    elif cls is NotFound:
        text = (
            f"Not found: {resource} does not exist, or {who} cannot see it "
            f"(reading it needs '{permission}').{said}"
        )
    elif cls is Throttled:
        text = (
            f"Throttled: {provider} rate-limited '{permission}' on {resource}. "
            f"Wait a minute and try again.{said}"
        )
    elif cls is Unavailable:
        code = f" ({status})" if status else ""
        text = (
            f"{provider} is unavailable{code} while calling '{permission}' on {resource}. "
            f"Try again later.{said}"
        )
    elif cls is Timeout:
        text = f"Timed out calling '{permission}' on {resource}.{said}"
    else:
        text = f"{provider} rejected '{permission}' on {resource}.{said}"
    return cls(
        text,
        provider=provider,
        permission=permission,
        resource=resource,
        status=status,
        detail=detail,
    )
