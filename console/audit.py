"""Writing the audit log, explicitly, where each action happens (never from signals)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AnonymousUser

from console.models import AuditLogEntry


def record_action(
    actor: Any,
    action: str,
    obj: Any,
    *,
    source: str,
    before: dict | None = None,
    after: dict | None = None,
    detail: str = "",
) -> AuditLogEntry:
    """Append one audit log row. `actor` is a user, None or a label string (for the CLI)."""
    entry = _entry(actor, action, obj, source=source, before=before, after=after, detail=detail)
    entry.save()
    return entry


def record_actions(
    actor: Any,
    action: str,
    changes: Iterable[tuple[Any, dict | None]],
    *,
    source: str,
    detail: str = "",
) -> list[AuditLogEntry]:
    """One row per (object, after) pair, written in one bulk insert (for actions on many rows)."""
    entries = [
        _entry(actor, action, obj, source=source, after=after, detail=detail)
        for obj, after in changes
    ]
    return AuditLogEntry.objects.bulk_create(entries, batch_size=1000)


def _entry(
    actor: Any,
    action: str,
    obj: Any,
    *,
    source: str,
    before: dict | None = None,
    after: dict | None = None,
    detail: str = "",
) -> AuditLogEntry:
    user = actor if getattr(actor, "pk", None) and not isinstance(actor, AnonymousUser) else None
    label = actor if isinstance(actor, str) else (getattr(actor, "username", "") or "system")
    return AuditLogEntry(
        actor=user,
        actor_label=label,
        source=source,
        action=action,
        object_type=obj._meta.model_name if hasattr(obj, "_meta") else type(obj).__name__.lower(),
        object_id=str(getattr(obj, "pk", "") or ""),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        detail=detail,
    )
