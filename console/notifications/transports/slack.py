"""Slack incoming webhook (and compatible: Mattermost, Rocket.Chat): `{"text", "blocks"}` JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.notifications.transports.base import post_json, resolve_target

if TYPE_CHECKING:
    from console.notifications.models import AlertChannel


def send(channel: AlertChannel, payload: dict) -> int:
    return post_json(resolve_target(channel.target), payload)
