"""One error type for bad cost input and one for failed provider calls, plus the retry rule.

Callers (views, Celery tasks) catch `CostSyncError` whatever the cloud, and show its message as is:
it names the provider, the operation, the resource and why it failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import tenacity

T = TypeVar("T")

Cause = Literal[
    "permission", "not_found", "throttled", "server", "unavailable", "conflict", "invalid", "other"
]

# Only these are worth trying again: the same request may well succeed a moment later.
RETRYABLE: frozenset[str] = frozenset({"throttled", "server", "unavailable"})

_CAUSE_WORDS: dict[str, str] = {
    "permission": "permission denied",
    "not_found": "not found",
    "throttled": "throttled",
    "server": "server error",
    "unavailable": "endpoint unavailable",
    "conflict": "conflict",
    "invalid": "rejected as invalid",
    "other": "failed",
}


class CostInputError(ValueError):
    """A cost setting or figure a user typed is wrong; `field` names which one."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class CostSyncError(Exception):
    """A budget or usage call to a cloud failed, after any retries."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        operation: str = "",
        resource: str = "",
        cause: Cause = "other",
        attempts: int = 1,
    ):
        super().__init__(message)
        self.provider = provider
        self.operation = operation
        self.resource = resource
        self.cause = cause
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry throttling and server errors."""

    attempts: int = 4
    initial_wait: float = 0.5  # seconds; doubles each time
    max_wait: float = 8.0


DEFAULT_RETRY = RetryPolicy()


def call_provider(
    fn: Callable[[], T],
    *,
    provider: str,
    operation: str,
    resource: str,
    classify: Callable[[BaseException], tuple[Cause, str] | None],
    retry: RetryPolicy = DEFAULT_RETRY,
) -> T:
    """Run one SDK call, retrying throttling/5xx, and turn SDK errors into `CostSyncError`.

    `classify` returns (cause, detail) for the SDK's own errors and None for anything else,
    which is a programming error and propagates unchanged.
    """

    def retryable(exc: BaseException) -> bool:
        found = classify(exc)
        return found is not None and found[0] in RETRYABLE

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(retry.attempts),
        wait=tenacity.wait_exponential(multiplier=retry.initial_wait, max=retry.max_wait),
        reraise=True,
    )
    try:
        return retrying(fn)
    except Exception as exc:
        found = classify(exc)
        if found is None:
            raise
        cause, detail = found
        attempts = retrying.statistics.get("attempt_number", 1)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        message = (
            f"{provider}: {operation} {resource} failed{tried}: {_CAUSE_WORDS[cause]} ({detail})"
        )
        raise CostSyncError(
            message,
            provider=provider,
            operation=operation,
            resource=resource,
            cause=cause,
            attempts=attempts,
        ) from exc
