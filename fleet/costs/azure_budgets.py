"""Budgets made in Azure Cost Management, read to decide which Container Apps they cover.

Consumption Budgets API `budgets.list` (https://learn.microsoft.com/rest/api/consumption/budgets/
list): `GET {scope}/providers/Microsoft.Consumption/budgets`, paged with `nextLink`, at the
subscription scope and at each resource group scope (a budget lives at one scope and watches only
the spending inside it). A budget's `properties.filter` narrows it: `dimensions` and `tags` are
`{name, operator: "In", values}` expressions, `and` holds several that must all hold
(BudgetFilter, BudgetComparisonExpression in the reference). Read with azure-mgmt-consumption's
ConsumptionManagementClient over the ARM pipeline the audit's other Azure reads use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTION = "Microsoft.Consumption/budgets/read"
# Dimensions that name where the spending happens, matched against the app (case-insensitive,
# as ARM ids and resource group names are). Others (MeterCategory, ServiceName, ...) narrow
# the kind of spending, not whose: the app's spending of that kind still counts.
_WHERE = {"resourcegroupname": "group", "resourcegroup": "group", "resourceid": "id",
          "resourcelocation": "location"}  # fmt: skip


@dataclass(frozen=True)
class AppWhere:
    """What a budget filter can name about one Container App."""

    id: str
    group: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AzureBudget:
    """One budget: its name, the resource group it lives in ("" = the subscription), its filter."""

    name: str
    group: str
    filter: dict[str, Any]

    def covers(self, app: AppWhere) -> bool:
        """Whether the app's spending counts against this budget."""
        if self.group and self.group.lower() != app.group.lower():
            return False
        return _holds(self.filter or {}, app)


def _holds(expression: dict[str, Any], app: AppWhere) -> bool:
    parts = [p for p in expression.get("and") or [] if isinstance(p, dict)]
    if not all(_holds(part, app) for part in parts):
        return False
    dimension = expression.get("dimensions") or {}
    if dimension:
        what = _WHERE.get(str(dimension.get("name", "")).lower())
        if what is not None:
            mine = getattr(app, what).lower().replace(" ", "")
            values = {str(v).lower().replace(" ", "") for v in dimension.get("values") or []}
            if mine not in values:
                return False
    tag = expression.get("tags") or {}
    if tag:
        value = app.tags.get(str(tag.get("name", "")))
        if value is None or value not in (tag.get("values") or []):
            return False
    return True


def _group_of(budget_id: str) -> str:
    parts = budget_id.split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered:
        return parts[lowered.index("resourcegroups") + 1]
    return ""


def list_budgets(client: Any, subscription: str, groups: list[str]) -> list[AzureBudget]:
    """Every budget at the subscription scope and at each of `groups` (all pages; raises on a
    refused read, an azure.core HttpResponseError)."""
    scopes = [f"/subscriptions/{subscription}"]
    scopes += [f"/subscriptions/{subscription}/resourceGroups/{g}" for g in sorted(set(groups))]
    found = []
    for scope in scopes:
        for budget in client.budgets.list(scope):
            raw = budget.as_dict() if hasattr(budget, "as_dict") else dict(budget)
            properties = raw.get("properties") or {}
            found.append(
                AzureBudget(
                    name=raw.get("name") or "",
                    group=_group_of(raw.get("id") or scope),
                    filter=properties.get("filter") or {},
                )
            )
    return found
