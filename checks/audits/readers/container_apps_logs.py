"""Whether Container Apps write structured logs, from their own console log lines.

A Container Apps environment sends its apps' stdout/stderr where its
`appLogsConfiguration.destination` says (https://learn.microsoft.com/en-us/rest/api/
resource-manager/containerapps/managed-environments/list-by-subscription, AppLogsConfiguration;
https://learn.microsoft.com/en-us/azure/container-apps/log-options): `log-analytics` writes them
to the Log Analytics workspace `logAnalyticsConfiguration.customerId` (table
`ContainerAppConsoleLogs_CL`: ContainerAppName_s, Log_s, TimeGenerated; workspaces on the newer
schema have `ContainerAppConsoleLogs`: ContainerAppName, Log); `azure-monitor` hands them to the
environment's diagnostic settings (not read here); none keeps them nowhere readable.

Environments are listed once per subscription; each workspace gets ONE query for every app of the
run that logs there (https://learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute,
through azure-monitor-query's LogsQueryClient): up to LOG_LINES lines per app from the last day,
one row per app. An app passes when at least JSON_SHARE of its lines are JSON objects, as on the
other platforms.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from checks.audits.evidence import Observation, Provenance
from checks.audits.readers import log_lines

ACTION = "Microsoft.OperationalInsights/workspaces/query/read"
ENVIRONMENTS_ACTION = "Microsoft.App/managedEnvironments/read"
LOG_LINES = 50
LOG_DAYS = 1
AUDIENCE = "https://api.loganalytics.io"
# Both console-log tables: `union isfuzzy=true` skips the one a workspace does not have.
# App names are unique within an environment (they name its DNS subdomains), not within a
# workspace several environments may share: lines are told apart by both names.
QUERY = """let apps = dynamic({apps});
union isfuzzy=true
  (ContainerAppConsoleLogs_CL | project TimeGenerated,
    Env = column_ifexists("EnvironmentName_s", ""), App = ContainerAppName_s, Log = Log_s),
  (ContainerAppConsoleLogs | project TimeGenerated,
    Env = column_ifexists("EnvironmentName", ""), App = ContainerAppName, Log)
| where App in (apps)
| order by TimeGenerated desc
| summarize Lines = make_list(Log, {lines}) by Env, App"""


def _get(obj: dict, snake: str, camel: str) -> Any:
    return obj.get(snake, obj.get(camel))


def environment_of(raw: dict) -> str:
    """The app's managed environment (lower-case ARM id), from its description."""
    properties = raw.get("properties") or raw
    found = _get(properties, "managed_environment_id", "managedEnvironmentId") or _get(
        properties, "environment_id", "environmentId"
    )
    return str(found or "").lower()


def read_environments(apps_client: Any) -> dict[str, str | tuple[str, str]]:
    """Each environment of the subscription (lower-case id) -> (workspace id, its name), or why
    its logs cannot be read. One managedEnvironments.listBySubscription (raises when refused)."""
    found: dict[str, str | tuple[str, str]] = {}
    for environment in apps_client.managed_environments.list_by_subscription():
        raw = environment.as_dict()
        properties = raw.get("properties") or raw
        logs = _get(properties, "app_logs_configuration", "appLogsConfiguration") or {}
        destination = str(logs.get("destination") or "")
        analytics = _get(logs, "log_analytics_configuration", "logAnalyticsConfiguration") or {}
        workspace = _get(analytics, "customer_id", "customerId") or ""
        name = raw.get("name") or ""
        if destination == "log-analytics" and workspace:
            found[str(raw.get("id") or "").lower()] = (workspace, name)
        elif destination == "log-analytics":
            found[str(raw.get("id") or "").lower()] = (
                f"its environment {name} sends console logs to Log Analytics but names no "
                "workspace (logAnalyticsConfiguration.customerId)"
            )
        elif destination == "azure-monitor":
            found[str(raw.get("id") or "").lower()] = (
                f"its environment {name} sends console logs through Azure Monitor diagnostic "
                "settings (destination azure-monitor), whose workspace the console does not read"
            )
        else:
            found[str(raw.get("id") or "").lower()] = (
                f"its environment {name} keeps no console logs (appLogsConfiguration.destination "
                f"{destination or 'unset'}): there is nothing to read"
            )
    return found


def logs_client(account: Any) -> Any:
    """A LogsQueryClient with the account's Azure credential: Log Analytics' own endpoint, or
    the loopback emulator's (the same fake that serves ARM) in emulator mode."""
    from azure.monitor.query import LogsQueryClient

    from fleet.operations.clouds.credentials import (
        azure_connection_verify,
        azure_credential,
        emulator_mode,
    )

    ref = account.to_ref()
    credential = azure_credential(ref)
    endpoint = account.endpoint.rstrip("/") if emulator_mode(ref) else AUDIENCE
    return LogsQueryClient(
        credential,
        endpoint=endpoint,
        audience=AUDIENCE,
        connection_verify=azure_connection_verify(ref),
        retry_total=1,
    )


def query_workspace(
    client: Any, workspace: str, apps: list[str]
) -> dict[tuple[str, str], list[str]]:
    """Each app's recent console lines ((environment, app) lower-case names -> lines) from one
    query (raises on a refused or failed query)."""
    from azure.monitor.query import LogsQueryStatus

    query = QUERY.format(apps=json.dumps(sorted(set(apps))), lines=LOG_LINES)
    answer = client.query_workspace(workspace, query, timespan=timedelta(days=LOG_DAYS))
    if answer.status != LogsQueryStatus.SUCCESS:
        error = getattr(answer, "partial_error", None)
        raise RuntimeError(f"the query answered partially ({getattr(error, 'message', error)})")
    found: dict[tuple[str, str], list[str]] = {}
    for table in answer.tables:
        columns = [c if isinstance(c, str) else c.name for c in table.columns]
        env_at, app_at, lines_at = (columns.index(c) for c in ("Env", "App", "Lines"))
        for row in table.rows:
            lines = row[lines_at]
            if isinstance(lines, str):  # dynamic columns arrive as JSON text
                lines = json.loads(lines)
            key = (str(row[env_at] or "").lower(), str(row[app_at]).lower())
            found.setdefault(key, []).extend(str(line) for line in lines or [])
    return found


def lines_of(
    found: dict[tuple[str, str], list[str]], environment: str, app: str
) -> list[str] | None:
    """The app's lines: those of its environment, else lines that name no environment."""
    return found.get((environment.lower(), app.lower())) or found.get(("", app.lower()))


def refusal(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status == 403:
        return (
            f"permission {ACTION} missing (403; the Log Analytics Reader role on the workspace "
            "grants it)"
        )
    return f"querying Log Analytics failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"


def structured_logs(lines: list[str] | None, workspace: str, origin: Provenance) -> Observation:
    """The app's lines judged: JSON objects in at least JSON_SHARE of them."""
    lines = [line.strip() for line in lines or [] if line.strip()]
    if not lines:
        return Observation(
            None, origin, f"no console log lines in workspace {workspace} in the last day"
        )
    return log_lines.judged(lines, origin, "recent console lines")
