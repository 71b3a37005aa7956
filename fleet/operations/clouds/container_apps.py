"""Azure Container Apps adapter over `azure-mgmt-appcontainers` with `azure-identity` credentials.

Redeploy restarts the serving revision and waits until it runs again; scaling sends a JSON merge
patch of the app template (scale rules, container resources) and follows the ARM long-running
operation (`Azure-AsyncOperation`) until it settles.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.mgmt.appcontainers import ContainerAppsAPIClient

from fleet.operations.clouds.base import CloudAdapter, ProgressCallback, label_matches
from fleet.operations.clouds.credentials import (
    azure_connection_verify,
    azure_credential,
    utc_now_iso,
)
from fleet.operations.clouds.errors import (
    CloudError,
    PermissionDenied,
    Timeout,
    Unavailable,
    build_error,
    error_class_for_status,
)
from fleet.operations.clouds.pacing import DEFAULT_PACING, Pacing
from fleet.operations.clouds.types import (
    AccountRef,
    EnvVar,
    OperationResult,
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
)
from fleet.operations.clouds.waiting import Step, poll_until, say, unknown_result

READ = "Microsoft.App/containerApps/read"
WRITE = "Microsoft.App/containerApps/write"
READ_REVISION = "Microsoft.App/containerApps/revisions/read"
RESTART_REVISION = "Microsoft.App/containerApps/revisions/restart/action"
READ_OPERATION = "Microsoft.App/locations/containerappOperationStatuses/read"
HTTP_RULE = "http-scaling"
_RUNNING = {"Running", "RunningAtMaxScale"}


class ContainerAppsAdapter(CloudAdapter):
    """Container apps in one subscription and resource group."""

    provider = "azure"

    def __init__(
        self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING, client: Any = None
    ) -> None:
        super().__init__(account, pacing=pacing)
        self.client = client or _make_client(account, pacing)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The app, plus the replica count of its serving revision."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        snapshot = _snapshot(app, service.url)
        revision = _serving_revision(app)
        if revision:
            try:
                found = self._revision(group, name, revision)
                snapshot.ready_instances = found.properties.replicas
            except PermissionDenied:
                pass  # the replica count is a nicety; the rest of the snapshot stands
        return snapshot

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Apps in the resource group whose tags match `label`."""
        group = self._group(account)
        apps = self.call(
            READ,
            f"resource group {group}",
            lambda: list(self.client.container_apps.list_by_resource_group(group)),
        )
        return [_snapshot(a, "") for a in apps if label_matches(dict(a.tags or {}), label)]

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Restart the serving revision and wait until it is running again."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        revision = _serving_revision(app)
        resource = f"{app.id}/revisions/{revision}"
        say(progress, f"Restarting revision {revision} of {name}")
        self.call(
            RESTART_REVISION,
            resource,
            self.client.container_apps_revisions.restart_revision,
            group,
            name,
            revision,
        )
        operation_id = f"{resource}/restart@{utc_now_iso()}"

        def check() -> Step:
            state = self._revision(group, name, revision).properties
            running, health = _text(state.running_state), _text(state.health_state)
            line = f"Revision {revision}: {running or 'unknown'}, health {health or 'unknown'}"
            if running in ("Failed", "Stopped"):
                return Step(True, line, failed=True, revision=revision)
            return Step(running in _RUNNING and health != "Unhealthy", line, revision=revision)

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            return unknown_result(
                operation_id=operation_id,
                revision_before=revision,
                where="the Azure portal (Container App > Revisions and replicas)",
                timeout_s=timeout_s,
                error=outcome,
            )
        return OperationResult(
            status="failed" if outcome.failed else "succeeded",
            operation_id=operation_id,
            revision_before=revision,
            revision_after=revision,
            message=outcome.message if outcome.failed else f"Revision {revision} restarted.",
        )

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Merge-patch the template's scale and resources and follow the ARM operation."""
        group, name = self._group(service.account), service.resource
        app = self._get(group, name)
        patch = _template_patch(app, settings)
        before = _serving_revision(app)
        if not patch:
            return OperationResult(
                status="succeeded", revision_before=before, message="Nothing to change."
            )
        say(progress, f"Updating {', '.join(sorted(patch))} of {name}")
        seen: dict[str, str] = {}

        def remember_operation(pipeline_response: Any) -> None:
            headers = pipeline_response.http_response.headers
            url = headers.get("Azure-AsyncOperation") or headers.get("Location")
            if url and "operation" not in seen:
                seen["operation"] = url.split("?")[0]

        poller = self.call(
            WRITE,
            app.id,
            self.client.container_apps.begin_update,
            group,
            name,
            {"properties": {"template": patch}},
            polling_interval=self.pacing.poll_interval_s,
            raw_response_hook=remember_operation,
        )
        operation_id = seen.get("operation", app.id)
        say(progress, f"Operation {operation_id} started")

        def check() -> Step:
            return Step(poller.done(), f"Azure reports the update {poller.status()}")

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            return unknown_result(
                operation_id=operation_id,
                revision_before=before,
                where="the Azure portal (Container App > Activity log)",
                timeout_s=timeout_s,
                error=outcome,
            )
        try:
            result = poller.result()
        except HttpResponseError as exc:
            return OperationResult(
                status="failed",
                operation_id=operation_id,
                revision_before=before,
                message=f"Azure reported the update failed: {exc.message}",
            )
        after = _serving_revision(result)
        say(progress, f"Revision {after} is serving")
        return OperationResult(
            status="succeeded",
            operation_id=operation_id,
            revision_before=before,
            revision_after=after,
            message=f"Scaling applied; revision {after} is serving.",
        )

    # -- internals ---------------------------------------------------------------------------
    def _group(self, account: AccountRef) -> str:
        return account.resource_group

    def _get(self, group: str, name: str) -> Any:
        scope = (
            f"/subscriptions/{self.account.subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.App/containerApps/{name}"
        )
        return self.call(READ, scope, self.client.container_apps.get, group, name)

    def _revision(self, group: str, name: str, revision: str) -> Any:
        return self.call(
            READ_REVISION,
            f"revision {revision} of {name}",
            self.client.container_apps_revisions.get_revision,
            group,
            name,
            revision,
        )

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        status: int | None = None
        if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
            cls: type[CloudError] = Timeout
        elif isinstance(exc, ServiceRequestError | ServiceResponseError):
            cls = Unavailable
        elif isinstance(exc, ClientAuthenticationError):
            status, cls = exc.status_code, PermissionDenied
        elif isinstance(exc, HttpResponseError):
            status = exc.status_code
            cls = error_class_for_status(status)
        else:
            return None
        detail = getattr(exc, "message", "") or str(exc)
        return build_error(
            cls,
            provider="Azure Container Apps",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=detail.splitlines()[-1] if detail else "",
            status=status,
            hint="Assign a role that includes it (for example 'Container Apps Contributor') at the "
            "app or resource group scope.",
        )


def _make_client(account: AccountRef, pacing: Pacing) -> ContainerAppsAPIClient:
    options: dict[str, Any] = {
        "retry_total": 0,  # the adapter retries throttling and 5xx itself, with backoff
        "connection_timeout": pacing.request_timeout_s,
        "read_timeout": pacing.request_timeout_s,
        "connection_verify": azure_connection_verify(account),
    }
    if account.endpoint:
        options["base_url"] = account.endpoint
    return ContainerAppsAPIClient(azure_credential(account), account.subscription, **options)


def _text(value: Any) -> str:
    """An SDK enum (or plain string) as the word Azure sent."""
    return str(getattr(value, "value", value) or "")


def _serving_revision(app: Any) -> str:
    properties = app.properties
    return properties.latest_ready_revision_name or properties.latest_revision_name or ""


def _template_patch(app: Any, settings: ScalingSettings) -> dict:
    """The `properties.template` merge patch for the non-None settings (lists sent whole)."""
    template = app.properties.template.as_dict()
    patch: dict[str, Any] = {}
    scale: dict[str, Any] = {}
    if settings.min_instances is not None:
        scale["minReplicas"] = settings.min_instances
    if settings.max_instances is not None:
        scale["maxReplicas"] = settings.max_instances
    if settings.concurrency is not None:
        rules = [r for r in (template.get("scale") or {}).get("rules") or [] if "http" not in r]
        http = {"metadata": {"concurrentRequests": str(settings.concurrency)}}
        scale["rules"] = [{"name": HTTP_RULE, "http": http}, *rules]
    if scale:
        patch["scale"] = scale
    if settings.cpu is not None or settings.memory is not None:
        containers = template.get("containers") or []
        resources = containers[0].setdefault("resources", {})
        if settings.cpu is not None:
            resources["cpu"] = float(settings.cpu)
        if settings.memory is not None:
            resources["memory"] = settings.memory
        patch["containers"] = containers  # a merge patch replaces arrays, so send them all
    return patch


def _snapshot(app: Any, url: str) -> ServiceSnapshot:
    properties = app.properties
    template = properties.template
    container = template.containers[0]
    scale = template.scale
    concurrency = None
    for rule in (scale.rules or []) if scale else []:
        if rule.http is not None and (rule.http.metadata or {}).get("concurrentRequests"):
            concurrency = int(rule.http.metadata["concurrentRequests"])
    ingress = properties.configuration.ingress if properties.configuration else None
    env = [
        EnvVar(name=e.name, is_secret_ref=True)
        if e.secret_ref
        else EnvVar(name=e.name, is_secret_ref=False, value=e.value or "")
        for e in container.env or []
    ]
    return ServiceSnapshot(
        provider="azure",
        resource=app.name,
        url=url or (f"https://{ingress.fqdn}" if ingress and ingress.fqdn else ""),
        image=container.image or "",
        revision=_serving_revision(app),
        region=app.location,
        scaling=ScalingSettings(
            min_instances=scale.min_replicas if scale and scale.min_replicas is not None else 0,
            max_instances=scale.max_replicas if scale and scale.max_replicas is not None else 10,
            concurrency=concurrency,
            cpu=f"{container.resources.cpu:g}" if container.resources else None,
            memory=container.resources.memory if container.resources else None,
        ),
        ingress="none" if ingress is None else ("all" if ingress.external else "internal"),
        allows_unauthenticated=None,
        service_identity=_identity(app),
        env=env,
        labels=dict(app.tags or {}),
        raw=app.as_dict(),
    )


def _identity(app: Any) -> str:
    identity = app.identity
    if identity is None or identity.type == "None":
        return ""
    names = list((identity.user_assigned_identities or {}).keys())
    if identity.principal_id:
        names.insert(0, f"system-assigned ({identity.principal_id})")
    return ", ".join(names)
