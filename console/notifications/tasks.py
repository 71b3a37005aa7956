"""Alert delivery with retries, and the periodic reminder run.

Settings (all optional):
- ALERT_DELIVERY_MAX_ATTEMPTS (default 5): attempts before a delivery is marked failed;
- ALERT_RETRY_BACKOFF_SECONDS (default 30): first retry delay, doubled each attempt;
- ALERT_RETRY_BACKOFF_MAX_SECONDS (default 1800): the cap on one delay (a 429's Retry-After too);
- ALERT_REMINDER_MINUTES (default 60): see dispatch.send_reminders.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from console.notifications import dispatch, transports
from console.notifications.models import Delivery
from console.notifications.transports import DeliveryError

logger = logging.getLogger(__name__)


def max_attempts() -> int:
    return max(1, int(getattr(settings, "ALERT_DELIVERY_MAX_ATTEMPTS", 5)))


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential: base, 2*base, 4*base... plus up to 10% jitter; a server's Retry-After wins."""
    base = float(getattr(settings, "ALERT_RETRY_BACKOFF_SECONDS", 30))
    cap = float(getattr(settings, "ALERT_RETRY_BACKOFF_MAX_SECONDS", 1800))
    delay = base * 2 ** (attempt - 1)
    delay += random.uniform(0, delay / 10)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)


@shared_task(bind=True, name="notifications.deliver_alert_task", max_retries=None)
def deliver_alert_task(self, delivery_id: int) -> Any:
    """Send one delivery; retry network errors, 5xx and 429 with backoff, then give up recorded."""
    delivery = Delivery.objects.select_related("channel", "alert").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.QUEUED:
        return
    attempt = delivery.attempts + 1
    channel = delivery.channel
    if channel is None or not channel.enabled:
        why = "the channel was deleted" if channel is None else "the channel is disabled"
        _finish(delivery, Delivery.Status.FAILED, attempt - 1, error=f"Not sent: {why}.")
        return
    try:
        code = transports.send(channel, delivery.payload)
    except DeliveryError as exc:
        if exc.retryable and attempt < max_attempts():
            delay = backoff_seconds(attempt, exc.retry_after)
            Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
                attempts=attempt,
                last_error=str(exc),
                response_code=exc.status_code,
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
            # A worker raises Retry; in eager mode (tests, the embedded quickstart) the Retry is
            # returned instead, which makes Celery's apply() run the next attempt at once.
            return self.retry(countdown=delay, throw=not self.request.is_eager)
        error = f"Gave up after {attempt} attempt(s): {exc}" if exc.retryable else str(exc)
        _finish(delivery, Delivery.Status.FAILED, attempt, error=error, code=exc.status_code)
        return
    except Exception as exc:  # a bug in a transport must not leave the row queued forever
        logger.exception("delivery %s crashed", delivery.pk)
        _finish(delivery, Delivery.Status.FAILED, attempt, error=f"{type(exc).__name__}: {exc}")
        return
    _finish(delivery, Delivery.Status.SENT, attempt, code=code)


def _finish(
    delivery: Delivery, status: str, attempts: int, *, error: str = "", code: int | None = None
) -> None:
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
        status=status,
        attempts=attempts,
        last_error=error,
        response_code=code,
        next_attempt_at=None,
        sent_at=timezone.now() if status == Delivery.Status.SENT else None,
    )


@shared_task(name="notifications.send_reminders_task")
def send_reminders_task() -> int:
    """Periodic (beat, every minute): remind about open alerts that are due."""
    return dispatch.send_reminders()
