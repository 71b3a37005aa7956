"""A strict local fake of the Azure Container Apps ARM API, over HTTPS with a self-signed cert.

Serves what `ContainerAppsAPIClient` sends: GET/list container apps, JSON-merge-patch PATCH that
answers 202 with an `Azure-AsyncOperation` status URL (InProgress for a few polls, then
Succeeded), revisions and `POST .../revisions/{rev}/restart`. Every request needs `api-version`
and a bearer token, as on ARM; errors use ARM's `{"error": {"code", "message"}}` shape.
Run standalone: `python -m tests.fakes.container_apps --port 8183`.
"""

from __future__ import annotations

import argparse
import copy
import re
import secrets
import uuid
from typing import Any

from tests.fakes.patching import merge_patch
from tests.fakes.server import FakeServer, RecordedRequest, Reply

API_VERSIONS = {"2024-03-01", "2025-01-01", "2025-07-01", "2026-07-01"}
_PROVIDER = r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.App/containerApps"
_APP = re.compile(_PROVIDER + r"/([^/]+)$", re.IGNORECASE)
_APPS = re.compile(_PROVIDER + r"$", re.IGNORECASE)
_REVISION = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)$", re.IGNORECASE)
_RESTART = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)/restart$", re.IGNORECASE)
_OPERATION = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.App/locations/([^/]+)"
    r"/containerappOperationStatuses/([^/]+)$",
    re.IGNORECASE,
)
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_COMBOS = {round(0.25 * i, 2): f"{0.5 * i:g}Gi" for i in range(1, 17)}  # cpu -> memory
_ACTIONS = {
    "app:GET": "Microsoft.App/containerApps/read",
    "apps:GET": "Microsoft.App/containerApps/read",
    "app:PATCH": "Microsoft.App/containerApps/write",
    "revision:GET": "Microsoft.App/containerApps/revisions/read",
    "restart:POST": "Microsoft.App/containerApps/revisions/restart/action",
    "operation:GET": "Microsoft.App/locations/containerappOperationStatuses/read",
}
_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class FakeContainerApps(FakeServer):
    """In-memory container apps with revisions and ARM async operations."""

    def __init__(self, *, port: int = 0, operation_polls: int | None = 2, restart_gets: int = 2):
        super().__init__(port=port, tls=True)
        self.apps: dict[str, dict] = {}  # lower-case ARM id -> ContainerApp JSON
        self.revisions: dict[str, dict] = {}  # lower-case ARM id -> Revision JSON
        self.operations: dict[str, dict] = {}
        self.operation_polls = operation_polls  # status polls until Succeeded; None = never
        self.restart_gets = restart_gets  # revision GETs until a restarted revision runs again
        self._restarting: dict[str, int] = {}
        self._next_operation_error = ""

    # -- seeding -----------------------------------------------------------------------------
    def add_app(
        self,
        name: str,
        *,
        subscription: str = "00000000-0000-0000-0000-000000000001",
        resource_group: str = "mcp-rg",
        location: str = "West Europe",
        image: str = "mcpregistry.azurecr.io/mcp-weather:1.4.2",
        tags: dict[str, str] | None = None,
        min_replicas: int = 0,
        max_replicas: int = 10,
        concurrency: int | None = 10,
        cpu: float = 0.5,
        memory: str = "1Gi",
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        external: bool = True,
        allow_insecure: bool = False,
    ) -> str:
        """A provisioned, running app with one active revision; returns its ARM id."""
        app_id = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.App/containerApps/{name}"
        )
        env_list: list[dict[str, str]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
        env_list += [{"name": k, "secretRef": v} for k, v in (secret_env or {}).items()]
        rules = []
        if concurrency is not None:
            rules = [
                {
                    "name": "http-scaling",
                    "http": {"metadata": {"concurrentRequests": str(concurrency)}},
                }
            ]
        identity_id = (
            f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}-identity"
        )
        fqdn = f"{name}.happyhill-1234abcd.westeurope.azurecontainerapps.io"
        app = {
            "id": app_id,
            "name": name,
            "type": "Microsoft.App/containerApps",
            "location": location,
            "tags": dict(tags or {}),
            "identity": {
                "type": "UserAssigned",
                "userAssignedIdentities": {
                    identity_id: {"principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())}
                },
            },
            "properties": {
                "provisioningState": "Succeeded",
                "runningStatus": "Running",
                "managedEnvironmentId": f"/subscriptions/{subscription}/resourceGroups/"
                f"{resource_group}/providers/Microsoft.App/managedEnvironments/mcp-env",
                "latestRevisionName": "",
                "latestReadyRevisionName": "",
                "latestRevisionFqdn": "",
                "configuration": {
                    "activeRevisionsMode": "Single",
                    "secrets": [{"name": s} for s in sorted(set((secret_env or {}).values()))],
                    "ingress": {
                        "external": external,
                        "targetPort": 8080,
                        "allowInsecure": allow_insecure,
                        "transport": "Auto",
                        "fqdn": fqdn if external else f"{name}.internal.{fqdn.split('.', 1)[1]}",
                        "traffic": [{"latestRevision": True, "weight": 100}],
                    },
                },
                "template": {
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "env": env_list,
                            "resources": {"cpu": cpu, "memory": memory, "ephemeralStorage": "2Gi"},
                        }
                    ],
                    "scale": {
                        "minReplicas": min_replicas,
                        "maxReplicas": max_replicas,
                        "rules": rules,
                    },
                },
            },
        }
        self.apps[app_id.lower()] = app
        self._new_revision(app, ready=True)
        return app_id

    def fail_next_operation(self, message: str) -> None:
        """Make the next update operation end in Failed (e.g. an image that cannot be pulled)."""
        self._next_operation_error = message

    def _new_revision(self, app: dict, *, ready: bool) -> str:
        revision = f"{app['name']}--{secrets.token_hex(4)[:7]}"
        properties = app["properties"]
        self.revisions[f"{app['id']}/revisions/{revision}".lower()] = {
            "id": f"{app['id']}/revisions/{revision}",
            "name": revision,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {
                "createdTime": "2025-01-01T00:00:00Z",
                "fqdn": f"{revision}.{properties['configuration']['ingress']['fqdn'].split('.', 1)[1]}",
                "template": copy.deepcopy(properties["template"]),
                "active": True,
                "replicas": max(1, properties["template"]["scale"]["minReplicas"]),
                "trafficWeight": 100,
                "healthState": "Healthy",
                "provisioningState": "Provisioned",
                "runningState": "Running",
            },
        }
        properties["latestRevisionName"] = revision
        if ready:
            properties["latestReadyRevisionName"] = revision
        properties["latestRevisionFqdn"] = self.revisions[
            f"{app['id']}/revisions/{revision}".lower()
        ]["properties"]["fqdn"]
        return revision

    # -- errors ------------------------------------------------------------------------------
    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        code = _CODES.get(status, "InternalServerError")
        headers = {"x-ms-failure-cause": "gateway"} if status in (401, 403) else {}
        if status == 429:
            headers["Retry-After"] = "0"
        return Reply(status, {"error": {"code": code, "message": message}}, headers)

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        kind = self._classify(request)
        scope = request.path.removesuffix("/restart")
        if status == 403:
            action = _ACTIONS.get(f"{kind}:{request.method}", "Microsoft.App/containerApps/read")
            return (
                "The client 'fleet-console@example.com' with object id "
                "'11111111-2222-3333-4444-555555555555' does not have authorization to perform "
                f"action '{action}' over scope '{scope}' or the scope is invalid. If access was "
                "recently granted, please refresh your credentials."
            )
        if status == 404:
            return f"The Resource '{scope}' was not found."
        return super().fault_message(status, request)

    @staticmethod
    def _classify(request: RecordedRequest) -> str:
        for kind, pattern in (
            ("restart", _RESTART),
            ("revision", _REVISION),
            ("operation", _OPERATION),
            ("app", _APP),
            ("apps", _APPS),
        ):
            if pattern.match(request.path):
                return kind
        return "unknown"

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth:
            return Reply(
                401,
                {"error": {"code": "AuthenticationFailed",
                           "message": "Authentication failed. The 'Authorization' header is missing."}},
            )  # fmt: skip
        if not auth.startswith("Bearer ") or len(auth) < 12:
            return Reply(
                401,
                {"error": {"code": "InvalidAuthenticationToken",
                           "message": "The access token is invalid."}},
            )  # fmt: skip
        version = request.query.get("api-version")
        if not version:
            return Reply(
                400,
                {"error": {"code": "MissingApiVersionParameter",
                           "message": "The api-version query parameter (?api-version=) is required "
                                      "for all requests."}},
            )  # fmt: skip
        if version not in API_VERSIONS:
            return Reply(
                400,
                {"error": {"code": "InvalidApiVersionParameter",
                           "message": f"The api-version '{version}' is invalid. The supported "
                                      f"versions are '{','.join(sorted(API_VERSIONS))}'."}},
            )  # fmt: skip
        kind = self._classify(request)
        handler = {
            ("apps", "GET"): self._list,
            ("app", "GET"): self._get_app,
            ("app", "PATCH"): self._patch_app,
            ("revision", "GET"): self._get_revision,
            ("restart", "POST"): self._restart,
            ("operation", "GET"): self._get_operation,
        }.get((kind, request.method))
        if handler is None:
            return self.error(
                404, f"No HTTP resource was found for {request.method} {request.path}", request
            )
        return handler(request)

    def _app_or_error(self, request: RecordedRequest, app_id: str) -> dict | Reply:
        name = app_id.rsplit("/", 1)[-1]
        if not _APP_NAME.match(name):
            return Reply(
                400,
                {"error": {"code": "ContainerAppInvalidName",
                           "message": f"Invalid ContainerApp name '{name}'. A name must consist of "
                                      "lower case alphanumeric characters or '-', start with a "
                                      "letter, end with an alphanumeric character, not have '--', "
                                      "and be at most 32 characters."}},
            )  # fmt: skip
        app = self.apps.get(app_id.lower())
        if app is None:
            return Reply(
                404,
                {"error": {"code": "ResourceNotFound",
                           "message": f"The Resource 'Microsoft.App/containerApps/{name}' under "
                                      f"resource group '{app_id.split('/')[4]}' was not found."}},
            )  # fmt: skip
        return app

    def _list(self, request: RecordedRequest) -> Reply:
        prefix = request.path.lower() + "/"
        apps = [a for key, a in sorted(self.apps.items()) if key.startswith(prefix)]
        return Reply(200, {"value": apps})

    def _get_app(self, request: RecordedRequest) -> Reply:
        app = self._app_or_error(request, request.path)
        return app if isinstance(app, Reply) else Reply(200, app)

    def _patch_app(self, request: RecordedRequest) -> Reply:
        if request.content_type not in ("application/json", "application/merge-patch+json"):
            return Reply(
                415,
                {"error": {"code": "UnsupportedMediaType",
                           "message": f"The content media type '{request.content_type}' is not "
                                      "supported. Only 'application/json' is supported."}},
            )  # fmt: skip
        app = self._app_or_error(request, request.path)
        if isinstance(app, Reply):
            return app
        if not isinstance(request.body, dict):
            return self.error(
                400, "The request content was invalid and could not be deserialized.", request
            )
        if app["properties"]["provisioningState"] == "InProgress":
            return Reply(
                409,
                {"error": {"code": "ContainerAppOperationInProgress",
                           "message": "Cannot modify a container app while another operation is "
                                      "in progress."}},
            )  # fmt: skip
        updated = merge_patch(app, request.body)
        problem = _validate(updated)
        if problem:
            return Reply(400, {"error": {"code": problem[0], "message": problem[1]}})
        template_changed = updated["properties"]["template"] != app["properties"]["template"]
        updated["properties"]["provisioningState"] = "InProgress"
        for read_only in ("latestRevisionName", "latestReadyRevisionName", "latestRevisionFqdn"):
            updated["properties"][read_only] = app["properties"][read_only]
        self.apps[request.path.lower()] = updated
        subscription = request.path.split("/")[2]
        location = updated["location"].replace(" ", "").lower()
        op_id = str(uuid.uuid4())
        self.operations[op_id] = {
            "app": request.path.lower(),
            "polls": 0,
            "template_changed": template_changed,
            "error": self._next_operation_error,
            "status": "InProgress",
        }
        self._next_operation_error = ""
        version = request.query["api-version"]
        status_url = (
            f"{self.endpoint}/subscriptions/{subscription}/providers/Microsoft.App/locations/"
            f"{location}/containerappOperationStatuses/{op_id}?api-version={version}"
        )
        headers = {"Azure-AsyncOperation": status_url, "Location": status_url}
        return Reply(202, b"", headers)

    def _get_operation(self, request: RecordedRequest) -> Reply:
        op_id = request.path.rsplit("/", 1)[-1]
        op = self.operations.get(op_id)
        if op is None:
            return self.error(404, f"The Resource '{request.path}' was not found.", request)
        if op["status"] == "InProgress":
            op["polls"] += 1
            if self.operation_polls is not None and op["polls"] >= self.operation_polls:
                self._finish(op)
        body: dict[str, Any] = {
            "id": request.path,
            "name": op_id,
            "status": op["status"],
            "startTime": "2025-01-01T00:00:00Z",
        }
        if op["status"] == "Failed":
            body["error"] = {"code": "ContainerAppProvisioningFailed", "message": op["error"]}
        return Reply(200, body)

    def _finish(self, op: dict) -> None:
        app = self.apps[op["app"]]
        if op["error"]:
            op["status"] = "Failed"
            app["properties"]["provisioningState"] = "Failed"
            return
        op["status"] = "Succeeded"
        app["properties"]["provisioningState"] = "Succeeded"
        if op["template_changed"]:
            self._new_revision(app, ready=True)

    def _get_revision(self, request: RecordedRequest) -> Reply:
        revision = self.revisions.get(request.path.lower())
        if revision is None:
            name = request.path.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        key = request.path.lower()
        if key in self._restarting:
            self._restarting[key] += 1
            if self.restart_gets and self._restarting[key] >= self.restart_gets:
                revision["properties"]["runningState"] = "Running"
                del self._restarting[key]
        return Reply(200, revision)

    def _restart(self, request: RecordedRequest) -> Reply:
        key = request.path.lower().removesuffix("/restart")
        revision = self.revisions.get(key)
        if revision is None:
            name = key.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        if not revision["properties"]["active"]:
            return self.error(400, "Cannot restart an inactive revision.", request)
        revision["properties"]["runningState"] = "Processing"
        self._restarting[key] = 0
        return Reply(200, b"")


def _validate(app: dict) -> tuple[str, str] | None:
    """The first (code, message) ARM would refuse this app with, or None."""
    template = app["properties"].get("template") or {}
    scale = template.get("scale") or {}
    low, high = scale.get("minReplicas", 0), scale.get("maxReplicas", 10)
    if not isinstance(low, int) or not 0 <= low <= 1000:
        return (
            "ContainerAppInvalidScaleMinReplicas",
            f"minReplicas {low} must be between 0 and 1000.",
        )
    if not isinstance(high, int) or not 1 <= high <= 1000 or high < low:
        return (
            "ContainerAppInvalidScaleMaxReplicas",
            f"maxReplicas {high} must be between 1 and 1000 and not below minReplicas {low}.",
        )
    for rule in scale.get("rules") or []:
        value = ((rule.get("http") or {}).get("metadata") or {}).get("concurrentRequests")
        if value is not None and (not str(value).isdigit() or int(value) < 1):
            return (
                "ContainerAppInvalidScaleRule",
                f"concurrentRequests '{value}' must be a positive integer.",
            )
    containers = template.get("containers") or []
    if not containers:
        return "ContainerAppInvalidTemplate", "At least one container is required."
    cpu = sum(float((c.get("resources") or {}).get("cpu", 0)) for c in containers)
    memory = sum(
        float(str((c.get("resources") or {}).get("memory", "0Gi")).removesuffix("Gi") or 0)
        for c in containers
    )
    expected = _COMBOS.get(round(cpu, 2))
    if expected is None or float(expected.removesuffix("Gi")) != memory:
        combos = "; ".join(f"[cpu: {c:g}, memory: {m}]" for c, m in list(_COMBOS.items())[:8])
        return (
            "ContainerAppInvalidResourceTotal",
            f"The total requested CPU and memory resources for this application (CPU: {cpu:g}, "
            f"memory: {memory:g}Gi) is invalid. Total CPU and memory for all containers defined "
            f"in a Container App must add up to one of the following CPU - Memory combinations: "
            f"{combos}; ...",
        )
    return None


def seed_demo(fake: FakeContainerApps) -> None:
    """A few MCP container apps for the demo mode and manual poking."""
    fake.add_app(
        "mcp-weather",
        tags={"mcp-server": "true"},
        env={"LOG_LEVEL": "info"},
        secret_env={"WEATHER_API_KEY": "weather-key"},
    )
    fake.add_app("mcp-docs", tags={"mcp-server": "true"}, min_replicas=1, external=False)
    fake.add_app("agent-backend", tags={"role": "agent"}, concurrency=None)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Azure Container Apps ARM API")
    parser.add_argument("--port", type=int, default=8183)
    args = parser.parse_args()
    fake = FakeContainerApps(port=args.port, operation_polls=3)
    seed_demo(fake)
    print(f"fake Container Apps on https://127.0.0.1:{args.port} (self-signed)", flush=True)
    fake.serve_forever()


if __name__ == "__main__":
    main()
