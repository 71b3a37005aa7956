"""The Container Apps fake plus the two other ARM providers the audit reads for an app, on the same
HTTPS endpoint (one ARM host serves every provider; the demo's Azure runs it too):

- Microsoft.Authorization role assignments and role definitions, listed once per subscription
  (api-version 2022-04-01):
  GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments
  https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/list-for-subscription
  GET /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions
  https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/list
- Azure Monitor subscription diagnostic settings (where the activity log is exported), listed once
  per subscription (api-version 2021-05-01-preview):
  GET /subscriptions/{sub}/providers/Microsoft.Insights/diagnosticSettings
  https://learn.microsoft.com/en-us/rest/api/monitor/subscription-diagnostic-settings/list
- Azure Monitor metrics at subscription scope, one call per region (api-version 2024-02-01):
  GET /subscriptions/{sub}/providers/Microsoft.Insights/metrics
  https://learn.microsoft.com/en-us/rest/api/monitor/metrics/list-at-subscription-scope

- Consumption budgets (Azure Cost Management), listed per scope: the subscription or one resource
  group (api-version 2023-05-01 or 2024-08-01):
  GET /subscriptions/{sub}[/resourceGroups/{rg}]/providers/Microsoft.Consumption/budgets
  https://learn.microsoft.com/rest/api/consumption/budgets/list
- Container Apps managed environments of a subscription (where each sends console logs):
  GET /subscriptions/{sub}/providers/Microsoft.App/managedEnvironments
  https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/managed-environments/
  list-by-subscription (an environment for each one the apps name; appLogsConfiguration as set)
- Log Analytics' query API for the environments' workspaces (log_analytics.py).

Modelled beside each reference: ARM paging (`value` + `nextLink`), the `api-version` each provider
accepts, a 403 AuthorizationFailed naming the action the caller lacks, and for metrics: `region`
and `metricnamespace` required, `$filter` on the `Microsoft.ResourceId` dimension splits the
answer into one time series per resource, `top` (default 10) caps how many series come back
per metric, `metricnames` and `aggregation` comma-separated lists (one Metric per name, each bucket
carrying the aggregations asked for), `interval` buckets over the timespan (an empty bucket
carries only its timeStamp), unknown metrics refused with the valid ones named.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from fleet.demo.emulators import log_analytics
from fleet.demo.emulators.container_apps import API_VERSIONS as APPS_VERSIONS
from fleet.demo.emulators.container_apps import FakeContainerApps
from fleet.demo.emulators.server import RecordedRequest, Reply

AUTHORIZATION_VERSIONS = {"2022-04-01"}
MONITOR_VERSIONS = {"2023-10-01", "2024-02-01"}
_ASSIGNMENTS = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.Authorization/roleAssignments$", re.I
)
_DEFINITIONS = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.Authorization/roleDefinitions$", re.I
)
_DIAGNOSTICS = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.Insights/diagnosticSettings$", re.I
)
DIAGNOSTICS_VERSIONS = {"2021-05-01-preview"}
# A scope's budgets only: a budget belongs to the scope it was made at (the subscription or one
# resource group), and `budgets.list` answers that scope's (reference above: "Lists all budgets
# for the defined scope"), paged with nextLink.
_BUDGETS = re.compile(
    r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?/providers/Microsoft\.Consumption/"
    r"budgets$",
    re.I,
)
BUDGET_VERSIONS = {"2023-05-01", "2024-08-01"}
_ENVIRONMENTS = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.App/managedEnvironments$", re.I
)
_METRICS = re.compile(r"^/subscriptions/([^/]+)/providers/Microsoft\.Insights/metrics$", re.I)
# Metric name -> unit, from the supported-metrics reference for Microsoft.App/containerapps
# (https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/
# microsoft-app-containerapps-metrics): each offers Average, Total (Sum), Maximum and Minimum,
# split by revisionName and podName, sampled every PT1M.
CONTAINER_APP_METRICS = {"Requests": "Count", "UsageNanoCores": "NanoCores",
                         "WorkingSetBytes": "Bytes"}  # fmt: skip
AGGREGATIONS = {"average", "total", "maximum", "minimum"}
_AGGREGATE = {"average": lambda v: sum(v) / len(v), "total": sum, "maximum": max, "minimum": min}
# The `interval` values the metrics API accepts (ISO 8601 durations; reference above).
INTERVALS = {
    "PT1M": timedelta(minutes=1), "PT5M": timedelta(minutes=5), "PT15M": timedelta(minutes=15),
    "PT30M": timedelta(minutes=30), "PT1H": timedelta(hours=1), "PT6H": timedelta(hours=6),
    "PT12H": timedelta(hours=12), "P1D": timedelta(days=1),
}  # fmt: skip
# Built-in roles by their fixed ids (https://learn.microsoft.com/en-us/azure/role-based-access-
# control/built-in-roles): Owner and Contributor hold "*"; Reader "*/read".
BUILT_IN = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": ("Owner", ["*"], []),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": (
        "Contributor",
        ["*"],
        [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    ),  # fmt: skip
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": ("Reader", ["*/read"], []),
}
_ACTION = {
    "assignments": "Microsoft.Authorization/roleAssignments/read",
    "definitions": "Microsoft.Authorization/roleDefinitions/read",
    "metrics": "Microsoft.Insights/metrics/read",
    "diagnostics": "Microsoft.Insights/diagnosticSettings/read",
    "budgets": "Microsoft.Consumption/budgets/read",
    "environments": "Microsoft.App/managedEnvironments/read",
}


class FakeArm(FakeContainerApps):
    """Container apps, role assignments/definitions and Container Apps metrics on one ARM host."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assignments: list[dict] = []
        self.definitions: dict[str, dict] = {}
        # (metric name, lower-case ARM id) -> [(time, value)] samples
        self.metric_points: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
        self.denied: set[str] = set()  # actions the caller lacks
        self.diagnostic_settings: list[dict] = []  # subscription-level (activity log export)
        self.budgets: dict[str, list[dict]] = {}  # lower-case scope -> Budget JSON
        self.app_logs: dict[str, dict] = {}  # lower-case environment id -> appLogsConfiguration
        self.console_logs = log_analytics.ConsoleLogs()

    # -- seeding -----------------------------------------------------------------------------
    def principal_of(self, app_id: str) -> str:
        identity = self.apps[app_id.lower()]["identity"]
        return next(iter(identity["userAssignedIdentities"].values()))["principalId"]

    def assign(self, subscription: str, principal: str, role: str, scope: str = "") -> None:
        """Assign a built-in role (by name) or a custom one added with `define` to `principal`."""
        definition = next(
            (i for i, (name, _, _) in BUILT_IN.items() if name == role),
            next((i for i, d in self.definitions.items() if d["roleName"] == role), None),
        )
        assert definition is not None, f"unknown role {role}"
        scope = scope or f"/subscriptions/{subscription}"
        name = str(uuid.uuid4())
        self.assignments.append({
            "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": f"/subscriptions/{subscription}/providers/"
                f"Microsoft.Authorization/roleDefinitions/{definition}",
                "principalId": principal, "principalType": "ServicePrincipal", "scope": scope,
            },
        })  # fmt: skip

    def define(self, name: str, actions: list[str]) -> None:
        """A custom role definition."""
        self.definitions[str(uuid.uuid4())] = {"roleName": name, "actions": actions}

    def export_activity_log(
        self, subscription: str, name: str, categories: dict[str, bool]
    ) -> None:
        """A subscription diagnostic setting sending these activity-log categories to a Log
        Analytics workspace (SubscriptionDiagnosticSettingsResource)."""
        self.diagnostic_settings.append({
            "id": f"/subscriptions/{subscription}/providers/microsoft.insights/"
            f"diagnosticSettings/{name}",
            "name": name,
            "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {
                "workspaceId": f"/subscriptions/{subscription}/resourceGroups/ops/providers/"
                "Microsoft.OperationalInsights/workspaces/audit",
                "logs": [{"category": c, "enabled": on} for c, on in categories.items()],
            },
        })  # fmt: skip

    def add_budget(
        self,
        subscription: str,
        name: str,
        amount: float = 500.0,
        *,
        resource_group: str = "",
        filter: dict | None = None,
    ) -> None:
        """A monthly cost budget made in Cost Management at the subscription or a resource
        group, with an optional `properties.filter` (BudgetFilter: `dimensions` / `tags`
        expressions {name, operator "In", values}, or `and` of several)."""
        scope = f"/subscriptions/{subscription}" + (
            f"/resourceGroups/{resource_group}" if resource_group else ""
        )
        self.budgets.setdefault(scope.lower(), []).append({
            "id": f"{scope}/providers/Microsoft.Consumption/budgets/{name}",
            "name": name,
            "type": "Microsoft.Consumption/budgets",
            "eTag": f'"{uuid.uuid4().hex[:12]}"',
            "properties": {
                "category": "Cost",
                "amount": amount,
                "timeGrain": "Monthly",
                "timePeriod": {"startDate": "2026-11-01T00:00:00Z",
                               "endDate": "2027-10-31T00:00:00Z"},
                "filter": filter or {},
                "currentSpend": {"amount": 0, "unit": "USD"},
                "notifications": {},
            },
        })  # fmt: skip

    def send_logs(self, environment_id: str, destination: str | None, workspace: str = "") -> None:
        """The environment's appLogsConfiguration: `log-analytics` to the workspace (customerId;
        the workspace then answers queries), `azure-monitor`, or None (logs kept nowhere)."""
        config: dict[str, Any] = {"destination": destination}
        if destination == "log-analytics":
            config["logAnalyticsConfiguration"] = {"customerId": workspace}
            self.console_logs.lines.setdefault(workspace, [])
        self.app_logs[environment_id.lower()] = config

    def environment_of(self, app_id: str) -> str:
        return self.apps[app_id.lower()]["properties"]["managedEnvironmentId"]

    def add_console_logs(self, workspace: str, app: str, lines: list[str], **kw: Any) -> None:
        """Console lines of an app (by name) in a workspace's ContainerAppConsoleLogs_CL."""
        self.console_logs.add(workspace, app, lines, **kw)

    def add_requests(self, app_id: str, points: list[tuple[datetime, float]]) -> None:
        self.metric_points.setdefault(("Requests", app_id.lower()), []).extend(points)

    def add_usage(
        self,
        app_id: str,
        cpu_cores: list[tuple[datetime, float]] = (),
        memory_bytes: list[tuple[datetime, float]] = (),
    ) -> None:
        """Samples of an app's replicas: CPU in cores (stored as UsageNanoCores) and working
        set memory in bytes (WorkingSetBytes)."""
        nano = [(t, cores * 1e9) for t, cores in cpu_cores]
        self.metric_points.setdefault(("UsageNanoCores", app_id.lower()), []).extend(nano)
        self.metric_points.setdefault(("WorkingSetBytes", app_id.lower()), []).extend(memory_bytes)

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        if log_analytics.known(request):
            return log_analytics.answer(self.console_logs, request, self.denied)
        kind = next(
            (k for k, p in (("assignments", _ASSIGNMENTS), ("definitions", _DEFINITIONS),
                            ("metrics", _METRICS), ("diagnostics", _DIAGNOSTICS),
                            ("budgets", _BUDGETS), ("environments", _ENVIRONMENTS))
             if p.match(request.path)),
            None,
        )  # fmt: skip
        if kind is None:
            return super().route(request)
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return self.error(401, "Authentication failed.", request)
        versions = {
            "metrics": MONITOR_VERSIONS,
            "diagnostics": DIAGNOSTICS_VERSIONS,
            "budgets": BUDGET_VERSIONS,
            "environments": APPS_VERSIONS,
        }.get(kind, AUTHORIZATION_VERSIONS)
        version = request.query.get("api-version")
        if version not in versions:
            return Reply(400, {"error": {"code": "InvalidApiVersionParameter",
                                         "message": f"The api-version '{version}' is invalid. "
                                         f"The supported versions are '{','.join(sorted(versions))}'."}})  # fmt: skip
        if _ACTION[kind] in self.denied:
            return self.error(403, self._denied_message(_ACTION[kind], request.path), request)
        if request.method != "GET":
            return self.error(405, "The requested resource does not support this method.", request)
        subscription = request.path.split("/")[2]
        if kind == "assignments":
            return Reply(200, self._page(request, self.assignments))
        if kind == "environments":
            return Reply(200, self._page(request, self._environments(subscription)))
        if kind == "budgets":
            scope = request.path.rsplit("/providers/", 1)[0].lower()
            return Reply(200, self._page(request, self.budgets.get(scope, [])))
        if kind == "diagnostics":  # one page: the reference's list has no nextLink
            return Reply(200, {"value": self.diagnostic_settings})
        if kind == "definitions":
            return Reply(200, self._page(request, self._definitions(subscription)))
        return self._metrics(request, subscription)

    def _environments(self, subscription: str) -> list[dict]:
        """ManagedEnvironment JSON for each environment the subscription's apps name."""
        ids = sorted({
            app["properties"]["managedEnvironmentId"] for key, app in self.apps.items()
            if key.startswith(f"/subscriptions/{subscription}/".lower())
        })  # fmt: skip
        return [
            {
                "id": env_id,
                "name": env_id.rsplit("/", 1)[-1],
                "type": "Microsoft.App/managedEnvironments",
                "location": "West Europe",
                "properties": {
                    "provisioningState": "Succeeded",
                    "appLogsConfiguration": self.app_logs.get(env_id.lower(), {}),
                },
            }
            for env_id in ids
        ]

    @staticmethod
    def _denied_message(action: str, scope: str) -> str:
        return (
            "The client 'fleet-console@example.com' with object id "
            "'11111111-2222-3333-4444-555555555555' does not have authorization to perform "
            f"action '{action}' over scope '{scope.rsplit('/providers/', 1)[0]}' or the scope is "
            "invalid. If access was recently granted, please refresh your credentials."
        )

    def _definitions(self, subscription: str) -> list[dict]:
        rows = [(i, n, a, na, "BuiltInRole") for i, (n, a, na) in BUILT_IN.items()]
        rows += [
            (i, d["roleName"], d["actions"], [], "CustomRole") for i, d in self.definitions.items()
        ]
        return [
            {
                "id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{i}",
                "name": i,
                "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {
                    "roleName": name,
                    "type": kind,
                    "assignableScopes": ["/"],
                    "permissions": [
                        {
                            "actions": actions,
                            "notActions": not_actions,
                            "dataActions": [],
                            "notDataActions": [],
                        }
                    ],
                },
            }  # fmt: skip
            for i, name, actions, not_actions, kind in rows
        ]

    def _metrics(self, request: RecordedRequest, subscription: str) -> Reply:
        query = request.query
        for required in ("region", "metricnamespace"):
            if not query.get(required):
                return self.error(400, f"The '{required}' query parameter is required.", request)
        if query["metricnamespace"].lower() != "microsoft.app/containerapps":
            return self.error(400, f"Unknown metric namespace {query['metricnamespace']}.", request)
        names = [n.strip() for n in (query.get("metricnames") or "").split(",") if n.strip()]
        unknown = [n for n in names if n not in CONTAINER_APP_METRICS]
        if not names or unknown:
            return self.error(400, f"Failed to find metric configuration for provider: "
                              f"Microsoft.App, resource Type: containerApps, metric: "
                              f"{','.join(unknown)}, Valid metrics: "
                              f"{','.join(CONTAINER_APP_METRICS)}", request)  # fmt: skip
        aggregations = [a.strip().lower() for a in (query.get("aggregation") or "").split(",")]
        if not set(aggregations) <= AGGREGATIONS:
            return self.error(400, f"Invalid aggregation {query.get('aggregation')}.", request)
        if query.get("$filter") != "Microsoft.ResourceId eq '*'":
            return self.error(400, "Only the filter Microsoft.ResourceId eq '*' is modelled.",
                              request)  # fmt: skip
        interval = INTERVALS.get(query.get("interval") or "PT1M")
        if interval is None:
            return self.error(400, f"Invalid interval {query.get('interval')}.", request)
        start_text, _, end_text = (query.get("timespan") or "").partition("/")
        try:
            start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
        except ValueError:
            return self.error(400, "Invalid timespan: expected start/end in ISO 8601.", request)
        region = query["region"].replace(" ", "").lower()
        apps = [
            app
            for app_id, app in sorted(self.apps.items())
            if app_id.startswith(f"/subscriptions/{subscription}/".lower())
            and app["location"].replace(" ", "").lower() == region
        ]
        top = int(query.get("top") or 10)  # "Defaults to 10" (reference)
        body = {
            "cost": 0,
            "timespan": query["timespan"],
            "interval": query.get("interval", "PT1M"),
            "namespace": query["metricnamespace"],
            "resourceregion": region,
            "value": [
                self._metric(subscription, name, apps, (start, end, interval), aggregations, top)
                for name in names
            ],
        }
        return Reply(200, body)

    def _metric(
        self,
        subscription: str,
        name: str,
        apps: list[dict],
        window: tuple[datetime, datetime, timedelta],
        aggregations: list[str],
        top: int,
    ) -> dict:
        """One Metric of the answer: a time series per app (the Microsoft.ResourceId split),
        each with a bucket per interval over the timespan; a bucket without samples carries
        only its timeStamp, as Azure Monitor answers."""
        start, end, interval = window
        series = []
        for app in apps:
            points = [
                (t, v) for t, v in self.metric_points.get((name, app["id"].lower()), [])
                if start <= t < end
            ]  # fmt: skip
            buckets = []
            at = start
            while at < end:
                values = [v for t, v in points if at <= t < at + interval]
                bucket: dict[str, Any] = {"timeStamp": at.isoformat()}
                if values:
                    bucket.update({a: _AGGREGATE[a](values) for a in aggregations})
                buckets.append(bucket)
                at += interval
            series.append({
                "metadatavalues": [{"name": {"value": "Microsoft.ResourceId",
                                             "localizedValue": "Microsoft.ResourceId"},
                                    "value": app["id"]}],
                "data": buckets,
            })  # fmt: skip
        return {
            "id": f"/subscriptions/{subscription}/providers/Microsoft.Insights/metrics/{name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": name},
            "unit": CONTAINER_APP_METRICS[name],
            "timeseries": series[:top],
            "errorCode": "Success",
        }
