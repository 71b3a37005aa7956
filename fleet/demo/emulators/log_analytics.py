"""Log Analytics' query API as the ARM fake serves it (one fake host for the demo's Azure):
`POST /v1/workspaces/{workspaceId}/query` with `{"query": KQL, "timespan": ISO 8601}`.

https://learn.microsoft.com/rest/api/loganalytics/dataaccess/query/execute: the answer is
`{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}`;
`dynamic` values travel as JSON text; errors are `{"error": {"code", "message", "innererror"}}`
(403 InsufficientAccessError without `Microsoft.OperationalInsights/workspaces/query/read`, 404
WorkspaceNotFoundError, 400 BadArgumentError for a query it cannot run). No KQL engine runs here:
the fake answers the one query shape the console sends (container_apps_logs.QUERY: the apps'
console lines from ContainerAppConsoleLogs_CL / ContainerAppConsoleLogs, newest first, at most N
per app) and refuses any other with 400, so a changed query fails a test instead of passing
unchecked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fleet.demo.emulators.server import RecordedRequest, Reply

PATH = re.compile(r"^/v1/workspaces/([^/]+)/query$")
ACTION = "Microsoft.OperationalInsights/workspaces/query/read"
TABLES = {"ContainerAppConsoleLogs_CL", "ContainerAppConsoleLogs"}
_APPS = re.compile(r"^let apps = dynamic\((\[.*?\])\);", re.S)
_SHAPE = re.compile(
    r"union isfuzzy=true\s+\(ContainerAppConsoleLogs_CL \| project TimeGenerated,\s+"
    r'Env = column_ifexists\("EnvironmentName_s", ""\), App = ContainerAppName_s, Log = Log_s\),'
    r"\s+\(ContainerAppConsoleLogs \| project TimeGenerated,\s+"
    r'Env = column_ifexists\("EnvironmentName", ""\), App = ContainerAppName, Log\)'
    r"\s+\| where App in \(apps\)\s+\| order by TimeGenerated desc"
    r"\s+\| summarize Lines = make_list\(Log, (\d+)\) by Env, App$"
)
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$")


@dataclass
class ConsoleLogs:
    """Console lines per workspace: (time, environment name, app name, line, table)."""

    lines: dict[str, list[tuple[datetime, str, str, str, str]]] = field(default_factory=dict)

    def add(
        self,
        workspace: str,
        app: str,
        lines: list[str],
        *,
        table: str = "ContainerAppConsoleLogs_CL",
        at: datetime | None = None,
        environment: str = "mcp-env",
    ) -> None:
        assert table in TABLES, table
        self.lines.setdefault(workspace, [])
        at = at or datetime.now(UTC) - timedelta(minutes=5)
        for i, line in enumerate(lines):
            when = at - timedelta(seconds=i)
            self.lines.setdefault(workspace, []).append((when, environment, app, line, table))


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message,
                                    "innererror": {"code": code, "message": message}}})  # fmt: skip


def _window(timespan: str) -> timedelta | None:
    match = _DURATION.match(timespan or "")
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def answer(logs: ConsoleLogs, request: RecordedRequest, denied: set[str]) -> Reply:
    """One query request, as the Log Analytics API answers it."""
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return _error(401, "AuthorizationRequiredError", "Valid authentication was not provided")
    if request.method != "POST":
        return _error(405, "MethodNotAllowed", "Use POST with a JSON body to run a query.")
    workspace = PATH.match(request.path).group(1)
    if ACTION in denied:
        return _error(403, "InsufficientAccessError", "The provided credentials have "
                      f"insufficient access to perform the requested operation ({ACTION}).")  # fmt: skip
    if workspace not in logs.lines:
        return _error(404, "WorkspaceNotFoundError", f"Workspace {workspace} not found.")
    body = request.body if isinstance(request.body, dict) else {}
    query = str(body.get("query") or "")
    apps_text, shape = _APPS.match(query), _SHAPE.search(query)
    if apps_text is None or shape is None:
        return _error(400, "BadArgumentError", "The request had some invalid properties "
                      "(this fake runs only the console's ContainerAppConsoleLogs query).")  # fmt: skip
    window = _window(str(body.get("timespan") or ""))
    if window is None:
        return _error(400, "BadArgumentError", f"Invalid timespan {body.get('timespan')!r}.")
    apps, cap = set(json.loads(apps_text.group(1))), int(shape.group(1))
    since = datetime.now(UTC) - window
    per_app: dict[tuple[str, str], list[str]] = {}
    rows = sorted(logs.lines[workspace], key=lambda row: row[0], reverse=True)
    for at, environment, app, line, _ in rows:
        key = (environment, app)
        if app in apps and at >= since and len(per_app.setdefault(key, [])) < cap:
            per_app[key].append(line)
    table = {
        "name": "PrimaryResult",
        "columns": [{"name": "Env", "type": "string"}, {"name": "App", "type": "string"},
                    {"name": "Lines", "type": "dynamic"}],
        "rows": [[env, app, json.dumps(lines)] for (env, app), lines in sorted(per_app.items())],
    }  # fmt: skip
    return Reply(200, {"tables": [table]})


def known(request: RecordedRequest) -> bool:
    return PATH.match(request.path) is not None
