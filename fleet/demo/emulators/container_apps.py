"""A strict local fake of the Azure Container Apps ARM API, over HTTPS with a self-signed cert.

Serves what `ContainerAppsAPIClient` sends: GET/list container apps, JSON-merge-patch PATCH that
answers 202 with an `Azure-AsyncOperation` status URL (InProgress for a few polls, then
Succeeded), revisions (list, get, restart, activate) and their replicas. Every request needs
`api-version` and a bearer token, as on ARM; errors use ARM's `{"error": {"code", "message"}}`
shape. It models what makes adapters wrong when ignored, each beside its reference:
- a restart is accepted (200) before anything changes; the revision still reads Running, then
  Processing, then runs again on new replicas (or ends Degraded / Failed);
- a finished ARM operation does not mean the new revision runs: it provisions afterwards, and
  may fail with a provisioning error while the operation said Succeeded;
- multiple-revision mode: traffic weights per revision, inactive revisions, activation;
- a `revisionSuffix` that already exists fails the provisioning;
- pagination (`nextLink`), 429 / 503 with `Retry-After`;
- built-in authentication (Easy Auth): an app's authConfigs (at most the one named `current`),
  listed with ARM paging; an app without one lists none.
Run standalone: `python -m fleet.demo.emulators.container_apps --port 8183`.
"""

from __future__ import annotations

import argparse
import copy
import re
import secrets
import uuid
from typing import Any

from fleet.demo.emulators.patching import merge_patch
from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

API_VERSIONS = {"2024-03-01", "2025-01-01", "2025-07-01", "2026-07-01"}
DOCS = "https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps"
_PROVIDER = r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.App/containerApps"
_APP = re.compile(_PROVIDER + r"/([^/]+)$", re.IGNORECASE)
_APPS = re.compile(_PROVIDER + r"$", re.IGNORECASE)
_REVISIONS = re.compile(_PROVIDER + r"/([^/]+)/revisions$", re.IGNORECASE)
_REVISION = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)$", re.IGNORECASE)
_RESTART = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)/restart$", re.IGNORECASE)
_ACTIVATE = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)/activate$", re.IGNORECASE)
_REPLICAS = re.compile(_PROVIDER + r"/([^/]+)/revisions/([^/]+)/replicas$", re.IGNORECASE)
_AUTH_CONFIGS = re.compile(_PROVIDER + r"/([^/]+)/authConfigs$", re.IGNORECASE)
_OPERATION = re.compile(
    r"^/subscriptions/([^/]+)/providers/Microsoft\.App/locations/([^/]+)"
    r"/containerappOperationStatuses/([^/]+)$",
    re.IGNORECASE,
)
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_SUFFIX = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,62}[a-z0-9]$")
_COMBOS = {round(0.25 * i, 2): f"{0.5 * i:g}Gi" for i in range(1, 17)}  # cpu -> memory
_ACTIONS = {
    "app:GET": "Microsoft.App/containerApps/read",
    "apps:GET": "Microsoft.App/containerApps/read",
    "app:PATCH": "Microsoft.App/containerApps/write",
    "revision:GET": "Microsoft.App/containerApps/revisions/read",
    "revisions:GET": "Microsoft.App/containerApps/revisions/read",
    "replicas:GET": "Microsoft.App/containerApps/revisions/replicas/read",
    "restart:POST": "Microsoft.App/containerApps/revisions/restart/action",
    "activate:POST": "Microsoft.App/containerApps/revisions/activate/action",
    "operation:GET": "Microsoft.App/locations/containerappOperationStatuses/read",
    "authconfigs:GET": "Microsoft.App/containerApps/authConfigs/read",
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
_RUNNING = "Running"


class FakeContainerApps(FakeServer):
    """In-memory container apps with revisions, replicas and ARM async operations."""

    def __init__(
        self,
        *,
        port: int = 0,
        operation_polls: int | None = 2,
        restart_gets: int = 2,
        restart_lag_gets: int = 1,
        activation_gets: int = 1,
    ):
        super().__init__(port=port, tls=True)
        self.apps: dict[str, dict] = {}  # lower-case ARM id -> ContainerApp JSON
        self.revisions: dict[str, dict] = {}  # lower-case ARM id -> Revision JSON
        self.replicas: dict[str, list[dict]] = {}  # lower-case revision id -> Replica JSON
        self.auth_configs: dict[str, list[dict]] = {}  # lower-case app id -> AuthConfig JSON
        self.operations: dict[str, dict] = {}
        self.operation_polls = operation_polls  # status polls until Succeeded; None = never
        self.restart_gets = restart_gets  # revision GETs in Processing while it restarts
        self.restart_lag_gets = restart_lag_gets  # GETs that still show the pre-restart state
        self.activation_gets = activation_gets  # GETs before a new revision runs
        self.list_page_size = 100
        self.retry_after = "0"  # seconds a 429 / 503 answer asks the client to wait
        self.started_replicas: int | None = (
            None  # replicas a released revision reaches (None = all)
        )
        self.restarts: list[str] = []  # revision names restarted, in order
        self._restarting: dict[str, dict] = {}
        self._activating: dict[str, dict] = {}
        self._next_operation_error = ""
        self._next_revision_failure: tuple[str, str] | None = None
        self._next_restart_failure: tuple[str, str] | None = None

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
        mode: str = "Single",
        revision_suffix: str = "",
        termination_grace_s: int | None = None,
        volumes: dict[str, str] | None = None,
    ) -> str:
        """A provisioned, running app with one active revision; returns its ARM id.

        `termination_grace_s` sets template.terminationGracePeriodSeconds (unset: the platform's
        default of 30 s applies; Template in the containerApps reference). `volumes` maps a volume
        name to its storageType (AzureFile, NfsAzureFile, EmptyDir, Secret; Volume in the same
        reference), each mounted in the container at /mnt/{name} (VolumeMount)."""
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
                    "activeRevisionsMode": mode,
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
                    "revisionSuffix": revision_suffix,
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
        if termination_grace_s is not None:
            app["properties"]["template"]["terminationGracePeriodSeconds"] = termination_grace_s
        self.apps[app_id.lower()] = app
        if volumes:
            self.set_volumes(app_id, volumes)
        revision = self._new_revision(app)
        self._become_running(app, revision, failure=None)
        return app_id

    def set_volumes(self, app_id: str, volumes: dict[str, str]) -> None:
        """Template volumes by name -> storageType, each mounted in the first container at
        /mnt/{name}; AzureFile / NfsAzureFile ones name an environment storage `{name}-share`
        (Volume, VolumeMount in the containerApps reference)."""
        template = self.apps[app_id.lower()]["properties"]["template"]
        template["volumes"] = [
            {"name": v, "storageType": kind}
            | ({"storageName": f"{v}-share"} if kind.endswith("AzureFile") else {})
            for v, kind in volumes.items()
        ]
        template["containers"][0]["volumeMounts"] = [
            {"volumeName": v, "mountPath": f"/mnt/{v}"} for v in volumes
        ]

    def deploy(self, app_id: str, *, image: str = "", failed: tuple[str, str] | None = None) -> str:
        """Another deployer's new revision, provisioned at once; returns its name."""
        with self.lock:
            app = self.apps[app_id.lower()]
            if image:
                app["properties"]["template"]["containers"][0]["image"] = image
            app["properties"]["template"]["revisionSuffix"] = ""
            revision = self._new_revision(app)
            self._become_running(app, revision, failure=failed)
            return revision

    def set_traffic(self, app_id: str, weights: dict[str, int]) -> None:
        """Route traffic by revision name ("" = latest), as `az containerapp ingress traffic set`."""
        with self.lock:
            app = self.apps[app_id.lower()]
            app["properties"]["configuration"]["ingress"]["traffic"] = [
                {"latestRevision": True, "weight": w} if not r else {"revisionName": r, "weight": w}
                for r, w in weights.items()
            ]
            for revision in weights:
                if revision:
                    self.revision(app_id, revision)["properties"]["active"] = True
            self._apply_traffic(app)

    def set_auth(
        self,
        app_id: str,
        *,
        enabled: bool = True,
        action: str | None = "Return401",
        providers: tuple[str, ...] = ("azureActiveDirectory",),
        excluded_paths: list[str] | None = None,
    ) -> None:
        """Configure built-in authentication (the `current` authConfig) for an app.

        https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        container-apps-auth-configs/create-or-update (AuthConfig: platform.enabled,
        globalValidation.unauthenticatedClientAction RedirectToLoginPage | AllowAnonymous |
        Return401 | Return403, globalValidation.excludedPaths, identityProviders); `action`
        None leaves globalValidation unset.
        """
        registrations = {
            "azureActiveDirectory": {
                "clientId": str(uuid.uuid4()),
                "clientSecretSettingName": "microsoft-provider-authentication-secret",
                "openIdIssuer": "https://sts.windows.net/00000000-0000-0000-0000-00000000000a/v2.0",
            },
            "gitHub": {"clientId": "Iv1.0123456789abcdef",
                       "clientSecretSettingName": "github-provider-authentication-secret"},
            "google": {"clientId": "1234.apps.googleusercontent.com",
                       "clientSecretSettingName": "google-provider-authentication-secret"},
        }  # fmt: skip
        properties: dict[str, Any] = {
            "platform": {"enabled": enabled},
            "identityProviders": {
                p: {"enabled": True, "registration": registrations.get(p, {})} for p in providers
            },
            "login": {"preserveUrlFragmentsForLogins": False},
        }
        validation: dict[str, Any] = {}
        if action is not None:
            validation["unauthenticatedClientAction"] = action
        if excluded_paths:
            validation["excludedPaths"] = list(excluded_paths)
        if validation:
            properties["globalValidation"] = validation
        with self.lock:
            app = self.apps[app_id.lower()]
            self.auth_configs[app_id.lower()] = [
                {
                    "id": f"{app['id']}/authConfigs/current",
                    "name": "current",
                    "type": "Microsoft.App/containerApps/authConfigs",
                    "properties": properties,
                }
            ]

    def fail_next_operation(self, message: str) -> None:
        """Make the next update operation end in Failed (e.g. an image that cannot be pulled)."""
        self._next_operation_error = message

    def fail_next_revision(self, state: str, message: str) -> None:
        """The next new revision ends `state` ("Failed" / "Degraded") though the ARM operation
        succeeds, as when the image pulls but the container keeps crashing."""
        self._next_revision_failure = (state, message)

    def fail_next_restart(self, state: str, message: str) -> None:
        """The next restarted revision comes back `state` ("Degraded" / "Failed")."""
        self._next_restart_failure = (state, message)

    def revision(self, app_id: str, name: str) -> dict:
        return self.revisions[f"{app_id}/revisions/{name}".lower()]

    def weights(self, app_id: str) -> dict[str, int]:
        """What the app really serves now: revision name -> traffic weight (non-zero only)."""
        prefix = f"{app_id}/revisions/".lower()
        return {
            r["name"]: r["properties"]["trafficWeight"]
            for key, r in self.revisions.items()
            if key.startswith(prefix) and r["properties"]["trafficWeight"]
        }

    # -- the model ---------------------------------------------------------------------------
    def _new_revision(self, app: dict) -> str:
        """A revision from the app's template, provisioning; returns its name."""
        properties = app["properties"]
        suffix = properties["template"].get("revisionSuffix") or secrets.token_hex(4)[:7]
        revision = f"{app['name']}--{suffix}"
        key = f"{app['id']}/revisions/{revision}".lower()
        count = sum(1 for k in self.revisions if k.startswith(app["id"].lower() + "/"))
        self.revisions[key] = {
            "id": f"{app['id']}/revisions/{revision}",
            "name": revision,
            "type": "Microsoft.App/containerApps/revisions",
            "properties": {
                "createdTime": f"2025-01-{count + 1:02d}T00:00:00Z",
                "fqdn": f"{revision}.{properties['configuration']['ingress']['fqdn'].split('.', 1)[1]}",
                "template": copy.deepcopy(properties["template"]),
                "active": True,
                "replicas": 0,
                "trafficWeight": 0,
                "healthState": "None",
                "provisioningState": "Provisioning",
                "runningState": "Processing",
            },
        }
        self.replicas[key] = []
        properties["latestRevisionName"] = revision
        properties["latestRevisionFqdn"] = self.revisions[key]["properties"]["fqdn"]
        return revision

    def _replica_set(self, key: str, state: str, detail: str = "") -> None:
        revision = self.revisions[key]
        count = max(1, revision["properties"]["template"]["scale"]["minReplicas"])
        running = state == _RUNNING
        self.replicas[key] = [
            {
                "id": f"{revision['id']}/replicas/{revision['name']}-{secrets.token_hex(5)}",
                "name": f"{revision['name']}-{secrets.token_hex(5)}",
                "type": "Microsoft.App/containerApps/revisions/replicas",
                "properties": {
                    "createdTime": "2025-01-02T00:00:00Z",
                    "runningState": "Running" if running else "NotRunning",
                    "runningStateDetails": detail,
                    "containers": [
                        {
                            "name": "server",
                            "containerId": secrets.token_hex(16),
                            "ready": running,
                            "started": running,
                            "restartCount": 0 if running else 5,
                            "runningState": "Running" if running else "Waiting",
                            "runningStateDetails": detail,
                        }
                    ],
                },
            }
            for _ in range(count)
        ]
        for replica in self.replicas[key]:
            replica["id"] = f"{revision['id']}/replicas/{replica['name']}"
        revision["properties"]["replicas"] = count if running else 0

    def _become_running(self, app: dict, revision: str, *, failure: tuple[str, str] | None):
        """The revision finished provisioning: running (and taking traffic), or failed."""
        key = f"{app['id']}/revisions/{revision}".lower()
        properties = self.revisions[key]["properties"]
        if failure is None:
            properties.update(provisioningState="Provisioned", runningState=_RUNNING,
                              healthState="Healthy")  # fmt: skip
            self._replica_set(key, _RUNNING)
            app["properties"]["latestReadyRevisionName"] = revision
        else:
            state, message = failure
            # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
            # container-apps-revisions/get-revision (RevisionProperties: provisioningError,
            # runningState Degraded / Failed, healthState Unhealthy)
            properties.update(
                provisioningState="Failed" if state == "Failed" else "Provisioned",
                runningState=state,
                healthState="Unhealthy",
                provisioningError=message,
            )
            self._replica_set(key, state, message)
        self._apply_traffic(app)

    def _apply_traffic(self, app: dict) -> None:
        """Revision `trafficWeight`/`active` from the app's mode and ingress traffic.

        https://learn.microsoft.com/en-us/azure/container-apps/revisions (single mode: the latest
        ready revision takes all traffic and the previous one is deactivated once it runs;
        multiple mode: `configuration.ingress.traffic` decides, `latestRevision: true` meaning
        the latest ready revision).
        """
        properties = app["properties"]
        latest = properties["latestReadyRevisionName"]
        prefix = f"{app['id']}/revisions/".lower()
        mine = {r["name"]: r for k, r in self.revisions.items() if k.startswith(prefix)}
        weights = dict.fromkeys(mine, 0)
        if properties["configuration"]["activeRevisionsMode"] == "Single":
            weights[latest] = 100
            for name, revision in mine.items():
                if name != latest and revision["properties"]["runningState"] == _RUNNING:
                    revision["properties"]["active"] = False
        else:
            for target in properties["configuration"]["ingress"].get("traffic") or []:
                name = latest if target.get("latestRevision") else target.get("revisionName", "")
                if name in weights:
                    weights[name] += int(target.get("weight", 0))
        for name, revision in mine.items():
            revision["properties"]["trafficWeight"] = weights[name]
            if not revision["properties"]["active"]:
                revision["properties"]["replicas"] = 0

    # -- errors ------------------------------------------------------------------------------
    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        code = _CODES.get(status, "InternalServerError")
        headers = {"x-ms-failure-cause": "gateway"} if status in (401, 403) else {}
        if status in (429, 503):
            # https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/
            # request-limits-and-throttling: throttled requests carry Retry-After (seconds).
            headers["Retry-After"] = self.retry_after
        return Reply(status, {"error": {"code": code, "message": message}}, headers)

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        kind = self._classify(request)
        scope = request.path.removesuffix("/restart").removesuffix("/activate")
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
            ("activate", _ACTIVATE),
            ("replicas", _REPLICAS),
            ("revision", _REVISION),
            ("revisions", _REVISIONS),
            ("operation", _OPERATION),
            ("authconfigs", _AUTH_CONFIGS),
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
            ("revisions", "GET"): self._list_revisions,
            ("revision", "GET"): self._get_revision,
            ("replicas", "GET"): self._list_replicas,
            ("restart", "POST"): self._restart,
            ("activate", "POST"): self._activate,
            ("operation", "GET"): self._get_operation,
            ("authconfigs", "GET"): self._list_auth_configs,
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

    def _page(self, request: RecordedRequest, items: list) -> dict:
        """`{"value": [...], "nextLink": ...}`, ARM's paging (the SDK pager follows nextLink).

        https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        container-apps-revisions/list-revisions (RevisionCollection: value, nextLink)
        """
        start = int(request.query.get("$skipToken") or 0)
        size = self.list_page_size
        body: dict[str, Any] = {"value": items[start : start + size]}
        if start + size < len(items):
            version = request.query["api-version"]
            body["nextLink"] = (
                f"{self.endpoint}{request.path}?api-version={version}&$skipToken={start + size}"
            )
        return body

    def _list(self, request: RecordedRequest) -> Reply:
        prefix = request.path.lower() + "/"
        apps = [a for key, a in sorted(self.apps.items()) if key.startswith(prefix)]
        return Reply(200, self._page(request, apps))

    def _get_app(self, request: RecordedRequest) -> Reply:
        app = self._app_or_error(request, request.path)
        return app if isinstance(app, Reply) else Reply(200, app)

    def _list_revisions(self, request: RecordedRequest) -> Reply:
        app = self._app_or_error(request, request.path.removesuffix("/revisions"))
        if isinstance(app, Reply):
            return app
        prefix = request.path.lower() + "/"
        found = [r for k, r in self.revisions.items() if k.startswith(prefix)]
        found.sort(key=lambda r: r["properties"]["createdTime"])
        return Reply(200, self._page(request, found))

    def _list_auth_configs(self, request: RecordedRequest) -> Reply:
        # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        # container-apps-auth-configs/list-by-container-app: 200 AuthConfigCollection
        # (`value`, `nextLink`); an app that never had authentication configured lists none;
        # an unknown app is 404 ResourceNotFound.
        app = self._app_or_error(request, request.path[: -len("/authConfigs")])
        if isinstance(app, Reply):
            return app
        return Reply(200, self._page(request, self.auth_configs.get(app["id"].lower(), [])))

    def _patch_app(self, request: RecordedRequest) -> Reply:
        # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        # container-apps/update (202 Accepted + Azure-AsyncOperation; JSON merge patch)
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
        template_changed = updated["properties"]["template"] != app["properties"]["template"]
        new_name = ""
        if template_changed:
            suffix = updated["properties"]["template"].get("revisionSuffix") or ""
            if suffix and not _SUFFIX.match(suffix):
                return self.error(
                    400,
                    f"Invalid Container App revision name '{app['name']}--{suffix}'. A revision "
                    "name must consist of lower case alphanumeric characters or '-', start with "
                    "a letter, end with an alphanumeric character and cannot have '--'.",
                    request,
                )
            new_name = f"{app['name']}--{suffix}" if suffix else ""
        problem = _validate(updated) or self._check_traffic(app, updated, new_name)
        if problem:
            return Reply(400, {"error": {"code": problem[0], "message": problem[1]}})
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

    def _check_traffic(self, app: dict, updated: dict, new_name: str) -> tuple[str, str] | None:
        """Traffic ARM refuses: weights not adding up to 100, unknown revision names.

        https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        container-apps/update (Ingress.traffic: TrafficWeight revisionName, weight,
        latestRevision, label)
        """
        traffic = updated["properties"]["configuration"]["ingress"].get("traffic") or []
        if traffic == app["properties"]["configuration"]["ingress"].get("traffic"):
            return None
        total = sum(int(t.get("weight", 0)) for t in traffic)
        if traffic and total != 100:
            return (
                "ContainerAppInvalidIngressTrafficWeight",
                f"The sum of traffic weights must be 100, not {total}.",
            )
        prefix = f"{app['id']}/revisions/".lower()
        for target in traffic:
            name = target.get("revisionName")
            if name and name != new_name and f"{prefix}{name}".lower() not in self.revisions:
                return (
                    "ContainerAppRevisionNotFound",
                    f"Revision '{name}' referenced in traffic configuration was not found.",
                )
        return None

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
        suffix = app["properties"]["template"].get("revisionSuffix") or ""
        exists = f"{app['id']}/revisions/{app['name']}--{suffix}".lower() in self.revisions
        if op["template_changed"] and suffix and exists and not op["error"]:
            # Reusing a suffix fails the provisioning, after the PATCH was accepted:
            # "Field 'template.revisionsuffix' is invalid with details: 'Invalid value:
            # revision with suffix already exists'" (ARM operation error).
            op["error"] = (
                "Failed to provision revision for container app. Error details: Field "
                "'template.revisionsuffix' is invalid with details: 'Invalid value: "
                f'"{suffix}": revision with suffix {suffix} already exists\'.'
            )
        if op["error"]:
            op["status"] = "Failed"
            app["properties"]["provisioningState"] = "Failed"
            return
        op["status"] = "Succeeded"
        app["properties"]["provisioningState"] = "Succeeded"
        if op["template_changed"]:
            revision = self._new_revision(app)
            key = f"{app['id']}/revisions/{revision}".lower()
            self._activating[key] = {"gets": 0, "failure": self._next_revision_failure}
            self._next_revision_failure = None
            if not self.activation_gets:
                self._activated(key)
        self._apply_traffic(app)

    def _activated(self, key: str) -> None:
        pending = self._activating.pop(key)
        revision = self.revisions[key]
        app = self.apps[revision["id"].lower().rsplit("/revisions/", 1)[0]]
        self._become_running(app, revision["name"], failure=pending["failure"])
        if self.started_replicas is not None and pending["failure"] is None:
            # Running, but short of minReplicas (quota, a slow image pull on some nodes).
            self.replicas[key] = self.replicas[key][: self.started_replicas]
            revision["properties"]["replicas"] = self.started_replicas

    def _get_revision(self, request: RecordedRequest) -> Reply:
        key = request.path.lower()
        revision = self.revisions.get(key)
        if revision is None:
            name = request.path.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        if key in self._activating:
            self._activating[key]["gets"] += 1
            if self._activating[key]["gets"] > self.activation_gets:
                self._activated(key)
        if key in self._restarting:
            self._advance_restart(key)
        return Reply(200, revision)

    def _advance_restart(self, key: str) -> None:
        """One GET further through a restart: old state, then Processing, then the outcome."""
        restart = self._restarting[key]
        restart["gets"] += 1
        properties = self.revisions[key]["properties"]
        if restart["gets"] <= self.restart_lag_gets:
            return  # accepted, but nothing visible has changed yet
        if restart["gets"] <= self.restart_lag_gets + self.restart_gets:
            properties["runningState"] = "Processing"
            self._replica_set(key, "Processing")
            return
        del self._restarting[key]
        failure = restart["failure"]
        if failure is None:
            properties.update(runningState=_RUNNING, healthState="Healthy")
            self._replica_set(key, _RUNNING)
            if self.started_replicas is not None:
                self.replicas[key] = self.replicas[key][: self.started_replicas]
                properties["replicas"] = self.started_replicas
        else:
            properties.update(runningState=failure[0], healthState="Unhealthy")
            if failure[0] == "Failed":
                properties["provisioningError"] = failure[1]
            self._replica_set(key, failure[0], failure[1])

    def _list_replicas(self, request: RecordedRequest) -> Reply:
        # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        # container-apps-revision-replicas/list-replicas
        key = request.path.lower().removesuffix("/replicas")
        if key not in self.revisions:
            name = key.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        return Reply(200, {"value": self.replicas[key]})

    def _restart(self, request: RecordedRequest) -> Reply:
        # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        # container-apps-revisions/restart-revision: 200 with no body, and the restart itself
        # happens afterwards: the revision first still reads as before.
        key = request.path.lower().removesuffix("/restart")
        revision = self.revisions.get(key)
        if revision is None:
            name = key.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        if not revision["properties"]["active"]:
            return self.error(400, "Cannot restart an inactive revision.", request)
        self._restarting[key] = {"gets": 0, "failure": self._next_restart_failure}
        self._next_restart_failure = None
        self.restarts.append(revision["name"])
        return Reply(200, b"")

    def _activate(self, request: RecordedRequest) -> Reply:
        # https://learn.microsoft.com/en-us/rest/api/resource-manager/containerapps/
        # container-apps-revisions/activate-revision
        key = request.path.lower().removesuffix("/activate")
        revision = self.revisions.get(key)
        if revision is None:
            name = key.rsplit("/", 1)[-1]
            return self.error(404, f"Revision '{name}' was not found.", request)
        revision["properties"]["active"] = True
        self._replica_set(key, revision["properties"]["runningState"])
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
