"""What each channel type receives for an alert. The Delivery row stores exactly this.

Webhook payload (JSON POST, `Content-Type: application/json`, `User-Agent: mcp-fleet-console`):

    {
      "version": 1,
      "event": "opened" | "reminder" | "recovered" | "test",
      "alert": {
        "id": 12, "kind": "down", "severity": "critical",
        "title": "notes is DOWN", "body": "...",
        "dedupe_key": "incident:42",
        "service": "notes" | null, "team": "search", "environment": "production",
        "url": "https://console.example.com/incidents/42/",
        "opened_at": "2026-01-31T10:00:00+00:00", "resolved_at": null,
        "reminder_count": 0,
        "resolves": "incident:42" | null,   # recovery events: the problem they close
        "details": {...}                    # the producer's extra fields
      }
    }

Slack: an incoming-webhook message `{"text": ..., "blocks": [...]}`.
Email: `{"to": [...], "subject": ..., "body": ...}` sent with Django's `send_mail`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from console.notifications.validation import split_addresses
from console.wording import kind_word

if TYPE_CHECKING:
    from console.notifications.models import Alert, AlertChannel

PAYLOAD_VERSION = 1
SEVERITY_MARK = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
PURPOSE_PREFIX = {"opened": "", "reminder": "[Reminder] ", "recovered": "", "test": "[Test] "}


def absolute_url(url: str) -> str:
    """Make a site-relative link absolute with CONSOLE_BASE_URL when it is set (it is parsed
    strictly at startup, console/public_url.py); without it the link stays relative."""
    base = getattr(settings, "CONSOLE_BASE_URL", "") or ""
    if url.startswith("/") and base:
        return base.rstrip("/") + url
    return url


def alert_document(alert: Alert, purpose: str) -> dict:
    return {
        "version": PAYLOAD_VERSION,
        "event": purpose,
        "alert": {
            "id": alert.pk,
            "kind": alert.kind,
            "severity": alert.severity,
            "title": alert.title,
            "body": alert.body,
            "dedupe_key": alert.dedupe_key,
            "service": alert.service_name or None,
            "team": alert.team,
            "environment": alert.environment,
            "url": absolute_url(alert.url),
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "reminder_count": alert.reminder_count,
            "resolves": alert.resolves.dedupe_key if alert.resolves_id else None,
            "details": alert.details,
        },
    }


def _subject(alert: Alert, purpose: str) -> str:
    where = " / ".join(v for v in (alert.environment, alert.team) if v)
    suffix = f" ({where})" if where else ""
    return f"{PURPOSE_PREFIX.get(purpose, '')}[{alert.severity.upper()}] {alert.title}{suffix}"


def slack_message(alert: Alert, purpose: str) -> dict:
    mark = ":white_check_mark:" if alert.kind == "recovered" else SEVERITY_MARK[alert.severity]
    subject = _subject(alert, purpose)
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
        for label, value in (
            ("Service", alert.service_name),
            ("Team", alert.team),
            ("Environment", alert.environment),
            ("Kind", kind_word(alert.kind)),
        )
        if value
    ]
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{mark} *{subject}*"}},
    ]
    if alert.body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": alert.body[:2900]}})
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    link = absolute_url(alert.url)
    if link.startswith(("http://", "https://")):
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{link}|Open in console>"}],
            }
        )
    return {"text": f"{mark} {subject}", "blocks": blocks}


def email_message(alert: Alert, purpose: str, to: list[str]) -> dict:
    lines = [alert.title, "", alert.body] if alert.body else [alert.title]
    facts = [
        f"{label}: {value}"
        for label, value in (
            ("Service", alert.service_name),
            ("Team", alert.team),
            ("Environment", alert.environment),
            ("Kind", kind_word(alert.kind)),
            ("Severity", alert.severity),
            ("Opened", alert.opened_at.strftime("%Y-%m-%d %H:%M UTC")),
        )
        if value
    ]
    link = absolute_url(alert.url)
    lines += ["", *facts] + ([f"Console: {link}"] if link else [])
    return {"to": to, "subject": _subject(alert, purpose)[:250], "body": "\n".join(lines)}


def build_payload(alert: Alert, channel: AlertChannel, purpose: str) -> dict:
    if channel.type == "slack":
        return slack_message(alert, purpose)
    if channel.type == "email":
        return email_message(alert, purpose, split_addresses(channel.target))
    return alert_document(alert, purpose)
