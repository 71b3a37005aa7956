"""Kubernetes adapter over the official `kubernetes` client: Deployment + HPA + Service.

Redeploy is `kubectl rollout restart` (a new `restartedAt` pod-template annotation) followed by
the same wait `kubectl rollout status` does. Scaling goes to the HorizontalPodAutoscaler when one
targets the Deployment, otherwise to `spec.replicas`.
"""

from __future__ import annotations

import json
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from fleet.operations.clouds.base import (
    CloudAdapter,
    ProgressCallback,
    label_matches,
    reject_unsupported,
)
from fleet.operations.clouds.credentials import kubernetes_api_client, utc_now_iso
from fleet.operations.clouds.errors import (
    CloudError,
    InvalidRequest,
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

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REASON_ANNOTATION = "fleet-console/redeploy-reason"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

GET_DEPLOYMENT = "deployments.apps get"
LIST_DEPLOYMENTS = "deployments.apps list"
PATCH_DEPLOYMENT = "deployments.apps patch"
LIST_HPAS = "horizontalpodautoscalers.autoscaling list"
PATCH_HPA = "horizontalpodautoscalers.autoscaling patch"
LIST_SERVICES = "services list"


class KubernetesAdapter(CloudAdapter):
    """Deployments in one namespace of one cluster (kube context = account.cluster)."""

    provider = "kubernetes"

    def __init__(
        self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING, api_client: Any = None
    ) -> None:
        super().__init__(account, pacing=pacing)
        self.api_client = api_client or kubernetes_api_client(account)
        self.apps = k8s.AppsV1Api(self.api_client)
        self.autoscaling = k8s.AutoscalingV2Api(self.api_client)
        self.core = k8s.CoreV1Api(self.api_client)

    # -- reading -----------------------------------------------------------------------------
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The Deployment with its HPA limits and the Service that exposes it."""
        namespace, name = self._namespace(service.account), service.resource
        deployment = self._read(namespace, name)
        hpas = self._optional(LIST_HPAS, namespace, self._hpas, namespace)
        services = self._optional(LIST_SERVICES, namespace, self._services, namespace)
        return self._snapshot(deployment, hpas or {}, services or [], service.url)

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Deployments in the namespace, filtered server-side by a label selector."""
        namespace = self._namespace(account)
        deployments = self.call(
            LIST_DEPLOYMENTS,
            f"namespace {namespace}",
            self.apps.list_namespaced_deployment,
            namespace,
            label_selector=label or None,
            _request_timeout=self.pacing.request_timeout_s,
        ).items
        hpas = self._optional(LIST_HPAS, namespace, self._hpas, namespace) or {}
        services = self._optional(LIST_SERVICES, namespace, self._services, namespace) or []
        return [
            self._snapshot(d, hpas, services, "")
            for d in deployments
            if label_matches(d.metadata.labels or {}, label)
        ]

    # -- changes -----------------------------------------------------------------------------
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """`kubectl rollout restart` and wait like `kubectl rollout status`."""
        namespace, name = self._namespace(service.account), service.resource
        before = self._read(namespace, name)
        annotations = {RESTARTED_AT: utc_now_iso()}
        if reason:
            annotations[REASON_ANNOTATION] = reason[:200]
        patch = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        say(progress, f"Restarting deployment {namespace}/{name}")
        return self._patch_and_wait(namespace, name, patch, before, timeout_s, progress)

    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Patch the HPA's min/max (or replicas without one) and container limits, then wait."""
        namespace, name = self._namespace(service.account), service.resource
        resource = f"deployments/{name} in namespace {namespace}"
        reject_unsupported(
            "Kubernetes",
            resource,
            settings,
            concurrency="a Deployment has no per-pod request concurrency setting",
        )
        before = self._read(namespace, name)
        deployment_patch: dict[str, Any] = {}
        messages: list[str] = []
        if settings.min_instances is not None or settings.max_instances is not None:
            hpa = self.call(LIST_HPAS, f"namespace {namespace}", self._hpas, namespace).get(name)
            if hpa is not None:
                self._patch_hpa(namespace, hpa, settings, progress)
                messages.append("autoscaler limits updated")
            else:
                replicas = _fixed_replicas(settings, resource)
                deployment_patch.setdefault("spec", {})["replicas"] = replicas
                say(progress, f"No HorizontalPodAutoscaler; setting replicas to {replicas}")
        if settings.cpu is not None or settings.memory is not None:
            container = _resources_patch(before, settings, progress)
            deployment_patch.setdefault("spec", {})["template"] = {
                "spec": {"containers": [container]}
            }
        if not deployment_patch:
            revision = _revision(before)
            return OperationResult(
                status="succeeded",
                revision_before=revision,
                revision_after=revision,
                message="; ".join(messages) or "Nothing to change.",
            )
        return self._patch_and_wait(namespace, name, deployment_patch, before, timeout_s, progress)

    # -- internals ---------------------------------------------------------------------------
    def _namespace(self, account: AccountRef) -> str:
        return account.namespace or "default"

    def _read(self, namespace: str, name: str) -> Any:
        return self.call(
            GET_DEPLOYMENT,
            f"deployments/{name} in namespace {namespace}",
            self.apps.read_namespaced_deployment,
            name,
            namespace,
            _request_timeout=self.pacing.request_timeout_s,
        )

    def _hpas(self, namespace: str) -> dict[str, Any]:
        """HPAs that target a Deployment, by Deployment name."""
        items = self.autoscaling.list_namespaced_horizontal_pod_autoscaler(
            namespace, _request_timeout=self.pacing.request_timeout_s
        ).items
        return {
            h.spec.scale_target_ref.name: h
            for h in items
            if h.spec.scale_target_ref.kind == "Deployment"
        }

    def _services(self, namespace: str) -> list[Any]:
        return self.core.list_namespaced_service(
            namespace, _request_timeout=self.pacing.request_timeout_s
        ).items

    def _optional(self, permission: str, namespace: str, fn: Any, *args: Any) -> Any:
        """Extra detail that describe can live without when the role does not grant it."""
        try:
            return self.call(permission, f"namespace {namespace}", fn, *args)
        except PermissionDenied:
            return None

    def _patch_hpa(
        self, namespace: str, hpa: Any, settings: ScalingSettings, progress: ProgressCallback | None
    ) -> None:
        spec: dict[str, int] = {}
        if settings.min_instances is not None:
            spec["minReplicas"] = settings.min_instances
        if settings.max_instances is not None:
            spec["maxReplicas"] = settings.max_instances
        name = hpa.metadata.name
        say(progress, f"Setting autoscaler {name} to {spec}")
        self.call(
            PATCH_HPA,
            f"horizontalpodautoscalers/{name} in namespace {namespace}",
            self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            name,
            namespace,
            {"spec": spec},
            _request_timeout=self.pacing.request_timeout_s,
        )

    def _patch_and_wait(
        self,
        namespace: str,
        name: str,
        patch: dict,
        before: Any,
        timeout_s: float,
        progress: ProgressCallback | None,
    ) -> OperationResult:
        resource = f"deployments/{name} in namespace {namespace}"
        patched = self.call(
            PATCH_DEPLOYMENT,
            resource,
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            patch,
            _request_timeout=self.pacing.request_timeout_s,
        )
        generation = patched.metadata.generation
        operation_id = f"{namespace}/deployment/{name}@generation={generation}"
        revision_before = _revision(before)

        def check() -> Step:
            return _rollout_step(self._read(namespace, name), generation)

        outcome = poll_until(check, timeout_s=timeout_s, pacing=self.pacing, progress=progress)
        if not isinstance(outcome, Step):
            return unknown_result(
                operation_id=operation_id,
                revision_before=revision_before,
                where=f"the cluster (kubectl rollout status deployment/{name} -n {namespace})",
                timeout_s=timeout_s,
                error=outcome,
            )
        if outcome.failed:
            return OperationResult(
                status="failed",
                operation_id=operation_id,
                revision_before=revision_before,
                revision_after=outcome.revision,
                message=outcome.message,
            )
        return OperationResult(
            status="succeeded",
            operation_id=operation_id,
            revision_before=revision_before,
            revision_after=outcome.revision,
            message=f"Deployment {name} rolled out (revision {outcome.revision}).",
        )

    def _snapshot(
        self, deployment: Any, hpas: dict[str, Any], services: list[Any], url: str
    ) -> ServiceSnapshot:
        meta, spec = deployment.metadata, deployment.spec
        pod = spec.template.spec
        container = pod.containers[0]
        limits = (container.resources.limits or {}) if container.resources else {}
        hpa = hpas.get(meta.name)
        replicas = spec.replicas if spec.replicas is not None else 1
        exposed = _service_for(deployment, services)
        return ServiceSnapshot(
            provider="kubernetes",
            resource=meta.name,
            url=url or _service_url(exposed, meta.namespace),
            image=container.image or "",
            revision=_revision(deployment),
            region=self.account.region,
            scaling=ScalingSettings(
                min_instances=(hpa.spec.min_replicas or 1) if hpa else replicas,
                max_instances=hpa.spec.max_replicas if hpa else replicas,
                concurrency=None,
                cpu=limits.get("cpu"),
                memory=limits.get("memory"),
            ),
            ready_instances=(deployment.status.available_replicas or 0)
            if deployment.status
            else None,
            ingress=_ingress(exposed),
            allows_unauthenticated=None,
            service_identity=pod.service_account_name or "default",
            env=_env(container),
            labels=dict(meta.labels or {}),
            raw=self.api_client.sanitize_for_serialization(deployment),
        )

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        status: int | None = None
        if isinstance(exc, ApiException):
            status = exc.status
            cls = error_class_for_status(status)
            detail = _status_message(exc)
        elif isinstance(exc, MaxRetryError | Urllib3Error):
            reason = getattr(exc, "reason", None)
            timed_out = isinstance(exc, Urllib3Timeout) or isinstance(reason, Urllib3Timeout)
            cls = Timeout if timed_out else Unavailable
            detail = str(reason or exc)
        else:
            return None
        return build_error(
            cls,
            provider="Kubernetes",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=detail,
            status=status,
            hint=_rbac_hint(permission, self._namespace(self.account)),
        )


def _rollout_step(deployment: Any, generation: int) -> Step:
    """The same checks `kubectl rollout status` makes, as one progress line."""
    status, spec = deployment.status, deployment.spec
    revision = _revision(deployment)
    if (status.observed_generation or 0) < generation:
        return Step(
            False, "Waiting for the deployment controller to observe the change", revision=revision
        )
    for condition in status.conditions or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            return Step(
                True, f"Rollout failed: {condition.message}", failed=True, revision=revision
            )
    replicas = spec.replicas if spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    available = status.available_replicas or 0
    total = status.replicas or 0
    if updated < replicas:
        return Step(False, f"{updated} of {replicas} new replicas updated", revision=revision)
    if total > updated:
        return Step(False, f"{total - updated} old replicas pending termination", revision=revision)
    if available < updated:
        return Step(
            False, f"{available} of {updated} updated replicas available", revision=revision
        )
    return Step(True, f"All {replicas} replicas updated and available", revision=revision)


def _fixed_replicas(settings: ScalingSettings, resource: str) -> int:
    low, high = settings.min_instances, settings.max_instances
    if low is not None and high is not None and low != high:
        raise InvalidRequest(
            f"{resource} has no HorizontalPodAutoscaler, so it runs a fixed replica count: set "
            f"min and max to the same number, or create an HPA to scale between {low} and {high}.",
            provider="Kubernetes",
            resource=resource,
        )
    return low if low is not None else high  # type: ignore[return-value]


def _resources_patch(
    deployment: Any, settings: ScalingSettings, progress: ProgressCallback | None
) -> dict:
    """A strategic-merge container entry setting the new limits (requests lowered if above)."""
    container = deployment.spec.template.spec.containers[0]
    current = container.resources
    requests = dict((current.requests or {}) if current else {})
    limits: dict[str, str] = {}
    lowered: dict[str, str] = {}
    for resource, value in (("cpu", settings.cpu), ("memory", settings.memory)):
        if value is None:
            continue
        limits[resource] = value
        if resource in requests and _quantity(requests[resource]) > _quantity(value):
            lowered[resource] = value  # a request above the limit would be refused
    patch: dict[str, Any] = {"name": container.name, "resources": {"limits": limits}}
    if lowered:
        patch["resources"]["requests"] = lowered
        say(progress, f"Lowering requests {lowered} so they do not exceed the new limits")
    say(progress, f"Setting container {container.name} limits to {limits}")
    return patch


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
             "Ti": 2**40}  # fmt: skip
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * units[suffix]
    return float(value)


def _revision(deployment: Any) -> str:
    return (deployment.metadata.annotations or {}).get(REVISION_ANNOTATION, "")


def _service_for(deployment: Any, services: list[Any]) -> Any:
    pod_labels = deployment.spec.template.metadata.labels or {}
    for service in services:
        selector = service.spec.selector or {}
        if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
            return service
    return None


def _service_url(service: Any, namespace: str) -> str:
    if service is None:
        return ""
    port = service.spec.ports[0].port if service.spec.ports else 80
    suffix = "" if port == 80 else f":{port}"
    ingress = (
        (service.status.load_balancer.ingress or [])
        if service.status and service.status.load_balancer
        else []
    )
    if ingress:
        host = ingress[0].ip or ingress[0].hostname
        return f"http://{host}{suffix}"
    return f"http://{service.metadata.name}.{namespace}.svc.cluster.local{suffix}"


def _ingress(service: Any) -> str:
    if service is None:
        return "none"
    return "all" if service.spec.type in ("LoadBalancer", "NodePort") else "internal"


def _env(container: Any) -> list[EnvVar]:
    env: list[EnvVar] = []
    for var in container.env or []:
        source = var.value_from
        if source is not None and source.secret_key_ref is not None:
            env.append(EnvVar(name=var.name, is_secret_ref=True))
        elif source is not None:
            env.append(EnvVar(name=var.name, is_secret_ref=False, value=None))
        else:
            env.append(EnvVar(name=var.name, is_secret_ref=False, value=var.value or ""))
    for source in container.env_from or []:
        if source.secret_ref is not None:
            env.append(
                EnvVar(
                    name=f"{source.prefix or ''}* (Secret {source.secret_ref.name})",
                    is_secret_ref=True,
                )
            )
    return env


def _status_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body or "{}").get("message", "") or str(exc.reason)
    except ValueError:
        return str(exc.body or exc.reason)


def _rbac_hint(permission: str, namespace: str) -> str:
    resource, _, verb = permission.partition(" ")
    plural, _, group = resource.partition(".")
    return (
        f"Add a Role rule in namespace {namespace}: apiGroups ['{group}'], resources "
        f"['{plural}'], verbs ['{verb}'], bound to the console's identity."
    )
