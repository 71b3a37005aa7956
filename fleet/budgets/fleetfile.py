"""The `budgets:` section of the fleet file: upsert by name, through the same rules as the UI.

    budgets:
      - name: weather-monthly
        scope: service          # service | team | environment | account | fleet
        scope_value: weather
        amount: "100"
        currency: USD
        thresholds: [50, 90, 100, "forecast:100"]   # default 50, 90, 100 (% of actual spend)
        channels: [ops-hook]    # alert channel names; default: the channels routing the scope

`import_budgets` is called inside the fleet file's transaction, after services; it returns one
readable line per problem (and changes nothing the caller does not commit).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from fleet.budgets import services as budget_services
from fleet.budgets.models import Budget

BUDGET_KEYS = {
    "name",
    "scope",
    "scope_value",
    "amount",
    "currency",
    "thresholds",
    "channels",
    "gcp_pubsub_topic",
    "gcp_notification_channels",
    "aws_sns_topic_arn",
}


def _label(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"budgets[{index}]" + (f" ({name})" if name else "")


def import_budgets(entries: list, actor: Any, *, source: str = "cli") -> list[str]:
    """Create or update each budget; returns error lines (empty when all were applied)."""
    if not isinstance(entries, list):
        return ["'budgets' must be a list."]
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        label = _label(i, entry)
        if not isinstance(entry, dict):
            errors.append(f"{label}: must be a mapping.")
            continue
        unknown = sorted(set(entry) - BUDGET_KEYS)
        errors += [f"{label}: {key}: unknown field." for key in unknown]
        name = entry.get("name")
        if name in seen:
            errors.append(f"{label}: name: '{name}' already appears in budgets[{seen[name]}].")
            continue
        if name:
            seen[name] = i
        if unknown:
            continue
        spec = {
            **entry,
            "amount": str(entry.get("amount", "")),
            "currency": entry.get("currency") or "USD",
        }
        instance = Budget.objects.filter(name=name).first() if name else None
        try:
            budget_services.save_budget(actor=actor, source=source, spec=spec, instance=instance)
        except ValidationError as exc:
            errors += [f"{label}: {f}: {m}" for f, msgs in exc.message_dict.items() for m in msgs]
    return errors


def export_budgets() -> list[dict]:
    """Every budget as a fleet-file entry, by name."""
    budgets = Budget.objects.prefetch_related("channels").order_by("name")
    entries = [budget_services.budget_state(b) for b in budgets]
    for entry in entries:
        for key in (
            "channels",
            "gcp_pubsub_topic",
            "gcp_notification_channels",
            "aws_sns_topic_arn",
        ):
            if not entry[key]:  # the defaults: channels routing the scope, no cloud topic
                del entry[key]
    return entries
