"""Generic webhook: the documented JSON document (see payloads.py), optionally with a secret header."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console import secret_refs
from console.notifications.transports.base import DeliveryError, post_json, resolve_target

if TYPE_CHECKING:
    from console.notifications.models import AlertChannel


def send(channel: AlertChannel, payload: dict) -> int:
    headers = {}
    if channel.secret_header and channel.secret_ref:
        try:
            headers[channel.secret_header] = secret_refs.resolve(channel.secret_ref)
        except secret_refs.SecretRefError as exc:
            raise DeliveryError(f"Secret header unavailable: {exc}.", retryable=False) from None
    return post_json(resolve_target(channel.target), payload, headers)
