"""Google Cloud Run adapter over the official `google-cloud-run` Admin API v2 client.

Redeploy stamps a `fleet-console/redeployed-at` annotation on the revision template, which makes
Cloud Run roll out a new revision from the same image; scaling changes go through an update mask so
nothing else in the service is touched.
"""

from __future__ import annotations

import requests
from google.api_core import exceptions as gexc
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from fleet.operations.clouds.base import CloudAdapter, ProgressCallback, label_matches
from fleet.operations.clouds.credentials import google_credentials, utc_now_iso
from fleet.operations.clouds.errors import (
    CloudError,
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

REDEPLOY_ANNOTATION = "fleet-console/redeployed-at"
REASON_ANNOTATION = "fleet-console/redeploy-reason"

_TRAFFIC = run_v2.IngressTraffic
_INGRESS = {
    _TRAFFIC.INGRESS_TRAFFIC_ALL: "all",
    _TRAFFIC.INGRESS_TRAFFIC_INTERNAL_ONLY: "internal",
    _TRAFFIC.INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER: "internal-and-cloud-load-balancing",
    _TRAFFIC.INGRESS_TRAFFIC_NONE: "none",
}
_ROLE_HINTS = {
    "run.services.update": (
        "Grant roles/run.developer on the service, plus roles/iam.serviceAccountUser on its "
        "runtime service account."
    ),
    "run.services.get": "Grant roles/run.viewer on the project or service.",
    "run.services.list": "Grant roles/run.viewer on the project.",
    "run.services.getIamPolicy": "Grant roles/run.viewer on the project or service.",
    "run.operations.get": "Grant roles/run.viewer on the project.",
}


class CloudRunAdapter(CloudAdapter):
    """Cloud Run services in one project (and region, or every region when none is set)."""

    provider = "gcp"

    def __init__(
        self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING, client: object | None = None
    ) -> None:
        super().__init__(account, pacing=pacing)
        self.client = client or _make_client(account)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The service, its scaling, env and whether allUsers may invoke it."""
        name = self._name(service)
        svc = self.call("run.services.get", name, self._get, name)
        snapshot = _snapshot(svc)
        try:
            policy = self.call(
                "run.services.getIamPolicy",
                name,
                self.client.get_iam_policy,
                request={"resource": name},
                timeout=self.pacing.request_timeout_s,
            )
        except CloudError:
            policy = None  # without getIamPolicy we cannot tell; the rest is still useful
        if svc.invoker_iam_disabled:
            snapshot.allows_unauthenticated = True
        elif policy is not None:
            snapshot.allows_unauthenticated = any(
                b.role == "roles/run.invoker" and "allUsers" in b.members for b in policy.bindings
            )
        return snapshot

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Services in the project/region, optionally only those with `label`."""
        parent = f"projects/{account.project}/locations/{account.region or '-'}"

        def fetch() -> list[run_v2.Service]:
            pager = self.client.list_services(
                parent=parent, retry=None, timeout=self.pacing.request_timeout_s
            )
            return list(pager)

        services = self.call("run.services.list", parent, fetch)
        return [_snapshot(s) for s in services if label_matches(dict(s.labels), label)]

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Roll out a new revision of the same image and wait for it to serve."""
        name = self._name(service)
        current = self.call("run.services.get", name, self._get, name)
        template = _copy_template(current.template)
        template.annotations[REDEPLOY_ANNOTATION] = utc_now_iso()
        if reason:
            template.annotations[REASON_ANNOTATION] = reason[:200]
        say(progress, f"Requesting a new revision of {name} from the same image")
        return self._update_and_wait(
            current, template, ["template.annotations"], timeout_s, progress, expect_new=True
        )

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Update template scaling/concurrency/limits through an update mask and wait."""
        name = self._name(service)
        current = self.call("run.services.get", name, self._get, name)
        template = _copy_template(current.template)
        paths: list[str] = []
        if settings.min_instances is not None:
            template.scaling.min_instance_count = settings.min_instances
            paths.append("template.scaling.min_instance_count")
        if settings.max_instances is not None:
            template.scaling.max_instance_count = settings.max_instances
            paths.append("template.scaling.max_instance_count")
        if settings.concurrency is not None:
            template.max_instance_request_concurrency = settings.concurrency
            paths.append("template.max_instance_request_concurrency")
        if settings.cpu is not None or settings.memory is not None:
            container = template.containers[0]
            if settings.cpu is not None:
                container.resources.limits["cpu"] = settings.cpu
            if settings.memory is not None:
                container.resources.limits["memory"] = settings.memory
            paths.append("template.containers")  # repeated fields are masked as a whole
        if not paths:
            return OperationResult(status="succeeded", message="Nothing to change.")
        say(progress, f"Updating {', '.join(paths)} on {name}")
        return self._update_and_wait(current, template, paths, timeout_s, progress, expect_new=True)

    # -- internals ---------------------------------------------------------------------------
    def _name(self, service: ServiceRef) -> str:
        if service.resource.startswith("projects/"):
            return service.resource
        account = service.account
        return f"projects/{account.project}/locations/{account.region}/services/{service.resource}"

    def _get(self, name: str) -> run_v2.Service:
        return self.client.get_service(name=name, retry=None, timeout=self.pacing.request_timeout_s)

    def _update_and_wait(
        self,
        current: run_v2.Service,
        template: run_v2.RevisionTemplate,
        paths: list[str],
        timeout_s: float,
        progress: ProgressCallback | None,
        *,
        expect_new: bool,
    ) -> OperationResult:
        name = current.name
        before = _short(current.latest_ready_revision)
        request = run_v2.UpdateServiceRequest(
            service=run_v2.Service(name=name, template=template, etag=current.etag),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        )
        operation = self.call(
            "run.services.update",
            name,
            self.client.update_service,
            request=request,
            timeout=self.pacing.request_timeout_s,
        )
        op_name = operation.operation.name
        say(progress, f"Operation {op_name} started")

        def check() -> Step:
            done = self.call("run.operations.get", op_name, operation.done)
            return Step(done=done, message=_operation_progress(operation, done))

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            return unknown_result(
                operation_id=op_name,
                revision_before=before,
                where="the Google Cloud console (Cloud Run > service > Revisions)",
                timeout_s=timeout_s,
                error=outcome,
            )
        error = operation.exception()
        if error is not None:
            return OperationResult(
                status="failed",
                operation_id=op_name,
                revision_before=before,
                message=f"Cloud Run reported the rollout failed: {_error_text(error)}",
            )
        result: run_v2.Service = operation.result()
        after = _short(result.latest_ready_revision)
        if expect_new and after == before:
            return OperationResult(
                status="failed",
                operation_id=op_name,
                revision_before=before,
                revision_after=after,
                message=f"The operation finished but {after} is still the serving revision.",
            )
        say(progress, f"Revision {after} is ready and serving")
        return OperationResult(
            status="succeeded",
            operation_id=op_name,
            revision_before=before,
            revision_after=after,
            message=f"Revision {after} replaced {before}.",
        )

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        if isinstance(exc, gexc.DeadlineExceeded | requests.exceptions.Timeout):
            cls: type[CloudError] = Timeout
            status = None
        elif isinstance(exc, requests.exceptions.ConnectionError):
            cls, status = Unavailable, None
        elif isinstance(exc, gexc.GoogleAPICallError):
            status = exc.code if isinstance(exc.code, int) else None
            cls = error_class_for_status(status)
        else:
            return None
        return build_error(
            cls,
            provider="Cloud Run",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=getattr(exc, "message", "") or str(exc),
            status=status,
            hint=_ROLE_HINTS.get(permission, ""),
        )


def _make_client(account: AccountRef) -> run_v2.ServicesClient:
    credentials = google_credentials(account)
    if account.endpoint:
        return run_v2.ServicesClient(
            credentials=credentials,
            transport="rest",
            client_options={"api_endpoint": account.endpoint},
        )
    return run_v2.ServicesClient(credentials=credentials)


def _copy_template(template: run_v2.RevisionTemplate) -> run_v2.RevisionTemplate:
    copy = run_v2.RevisionTemplate.deserialize(run_v2.RevisionTemplate.serialize(template))
    copy.revision = ""  # a fixed revision name cannot be reused; let Cloud Run name the new one
    return copy


def _error_text(error: BaseException) -> str:
    return getattr(error, "message", "") or str(error)


def _short(revision: str) -> str:
    return revision.rsplit("/", 1)[-1]


def _operation_progress(operation: object, done: bool) -> str:
    """One line from the in-flight Service in the operation metadata."""
    if done:
        return "Operation finished"
    metadata = operation.metadata  # type: ignore[attr-defined]
    if metadata is None:
        return "Waiting for Cloud Run"
    pending = [
        f"{c.type_}: {c.message or c.state.name.lower()}"
        for c in metadata.conditions
        if c.state != run_v2.Condition.State.CONDITION_SUCCEEDED
    ]
    return "; ".join(pending) or metadata.terminal_condition.message or "Rolling out"


def _snapshot(svc: run_v2.Service) -> ServiceSnapshot:
    template = svc.template
    container = template.containers[0] if template.containers else None
    limits = dict(container.resources.limits) if container else {}
    env = []
    for var in container.env if container else []:
        if var.value_source.secret_key_ref.secret:
            env.append(EnvVar(name=var.name, is_secret_ref=True))
        else:
            env.append(EnvVar(name=var.name, is_secret_ref=False, value=var.value))
    parts = svc.name.split("/")
    return ServiceSnapshot(
        provider="gcp",
        resource=svc.name,
        url=svc.uri,
        image=container.image if container else "",
        revision=_short(svc.latest_ready_revision),
        region=parts[3] if len(parts) > 3 else "",
        scaling=ScalingSettings(
            min_instances=template.scaling.min_instance_count,
            max_instances=template.scaling.max_instance_count,
            concurrency=template.max_instance_request_concurrency,
            cpu=limits.get("cpu"),
            memory=limits.get("memory"),
        ),
        ingress=_INGRESS.get(svc.ingress, ""),
        service_identity=template.service_account,
        env=env,
        labels=dict(svc.labels),
        raw=run_v2.Service.to_dict(svc, preserving_proto_field_name=False),
    )
