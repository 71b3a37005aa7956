"""Retry and polling pace for cloud calls, with exponential backoff from tenacity.

Only throttling and server-side failures are retried: a permission or validation error will not fix
itself, and retrying it would only delay the message the user needs to see.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from fleet.operations.clouds.errors import CloudError

T = TypeVar("T")


@dataclass(frozen=True)
class Pacing:
    """How hard to retry and how often to poll. Tests pass a fast one; production uses DEFAULT."""

    attempts: int = 5  # total tries for a throttled / 5xx call
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    poll_interval_s: float = 2.0  # first wait between status polls of a running operation
    poll_max_interval_s: float = 15.0
    request_timeout_s: float = 30.0  # per HTTP request


DEFAULT_PACING = Pacing()


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, CloudError) and exc.retryable


def _wait(pacing: Pacing) -> Callable[[RetryCallState], float]:
    """Exponential backoff, but never shorter than a Retry-After the API sent (capped at the
    pacing's longest backoff)."""
    exponential = wait_exponential(
        multiplier=pacing.backoff_initial_s,
        min=pacing.backoff_initial_s,
        max=pacing.backoff_max_s,
    )

    def wait(state: RetryCallState) -> float:
        pause = exponential(state)
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after_s", None)
        if asked:
            pause = max(pause, min(float(asked), pacing.backoff_max_s))
        return pause

    return wait


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (the delta-seconds form), else None."""
    try:
        return max(0.0, float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def retry_after_of(exc: BaseException) -> float:
    """Seconds a throttled (429) or unavailable (503) SDK answer asked us to wait, else 0.

    The header is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    """
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    response = getattr(exc, "response", None)
    if status not in (429, 503) or response is None:
        return 0.0
    value = str((getattr(response, "headers", None) or {}).get("Retry-After") or "").strip()
    seconds = retry_after_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def call_with_retry(fn: Callable[[], T], pacing: Pacing) -> T:
    """Call `fn` (which raises CloudError) and retry throttled/unavailable failures with backoff."""
    retrying = Retrying(
        stop=stop_after_attempt(max(1, pacing.attempts)),
        wait=_wait(pacing),
        retry=retry_if_exception(_is_retryable),
        reraise=True,
        sleep=time.sleep,
    )
    try:
        for attempt in retrying:
            with attempt:
                try:
                    return fn()
                except CloudError as exc:
                    exc.attempts = attempt.retry_state.attempt_number
                    raise
    except RetryError as exc:  # pragma: no cover - reraise=True makes tenacity raise the cause
        raise exc.last_attempt.exception() from exc  # type: ignore[misc]
    raise AssertionError("unreachable")  # pragma: no cover
