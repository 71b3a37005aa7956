"""One small module per channel type, each with `send(channel, payload) -> int | None`.

A transport returns the HTTP status code (None for email) when the message was accepted, and
raises `DeliveryError` otherwise; `retryable` says whether trying again later may help
(network errors, 5xx, 429) or not (4xx, a missing secret, a refused address).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.notifications.transports.base import DeliveryError

if TYPE_CHECKING:
    from console.notifications.models import AlertChannel

__all__ = ["DeliveryError", "send"]


def send(channel: AlertChannel, payload: dict) -> int | None:
    from console.notifications.transports import email, slack, webhook

    transport = {"webhook": webhook, "slack": slack, "email": email}[channel.type]
    return transport.send(channel, payload)
