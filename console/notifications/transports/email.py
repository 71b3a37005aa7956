"""Email through Django's `send_mail`, configured by the EMAIL_* settings."""

from __future__ import annotations

import smtplib
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail

from console.egress import EgressRefused
from console.notifications.transports.base import DeliveryError

if TYPE_CHECKING:
    from console.notifications.models import AlertChannel


def send(channel: AlertChannel, payload: dict) -> None:
    try:
        send_mail(
            payload["subject"],
            payload["body"],
            settings.DEFAULT_FROM_EMAIL,
            payload["to"],
            fail_silently=False,
        )
    except EgressRefused as exc:
        raise DeliveryError(str(exc), retryable=False) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"Recipients refused: {exc.recipients}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers timeouts
        raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
    return None
