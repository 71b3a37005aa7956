"""Kubernetes adapter over the official `kubernetes` client: Deployment + HPA + Service.

Redeploy is `kubectl rollout restart` (a new `restartedAt` pod-template annotation) followed by
the same wait `kubectl rollout status` does, plus what it does not do: the new ReplicaSet's pods
and recent events are read while waiting, so a crash-looping, OOM-killed, image-less or
unschedulable rollout is reported failed with the kubelet's or scheduler's own reason, and the
wait outlasts the Deployment's `progressDeadlineSeconds` so the controller's own verdict is seen.
Releases patch one container's image (`kubectl set image`); rollbacks restore a ReplicaSet's pod
template (`kubectl rollout undo --to-revision`). Plain Deployments cannot split traffic.
Scaling goes to the HorizontalPodAutoscaler when one targets the Deployment, otherwise to
`spec.replicas`; cpu/memory are the container's limits, cpu_request/memory_request its requests.
"""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from fleet.operations.clouds import kubernetes_json as kube_json
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
    NotFound,
    PermissionDenied,
    Timeout,
    Unavailable,
    build_error,
    error_class_for_status,
)
from fleet.operations.clouds.kubernetes_json import DEFAULT_CONTAINER, REVISION_ANNOTATION
from fleet.operations.clouds.pacing import DEFAULT_PACING, Pacing, retry_after_seconds
from fleet.operations.clouds.types import (
    AccountRef,
    OperationResult,
    Revision,
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
)
from fleet.operations.clouds.waiting import Step, poll_until, say, unknown_result

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REASON_ANNOTATION = "fleet-console/redeploy-reason"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
# Waiting reasons after which the kubelet only backs off: the rollout will not progress by itself.
# https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-state-waiting
# (CreateContainerConfigError is left to the progress deadline: a missing Secret or ConfigMap may
# still be created.)
STUCK_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName"}
NO_SPLIT = (
    "a plain Kubernetes Deployment replaces pods in a rolling update and has no traffic split "
    "between versions (that needs a service mesh, Gateway API or Argo Rollouts)"
)

GET_DEPLOYMENT = "deployments.apps get"
LIST_DEPLOYMENTS = "deployments.apps list"
PATCH_DEPLOYMENT = "deployments.apps patch"
LIST_HPAS = "horizontalpodautoscalers.autoscaling list"
PATCH_HPA = "horizontalpodautoscalers.autoscaling patch"
LIST_SERVICES = "services list"
LIST_REPLICASETS = "replicasets.apps list"
LIST_PODS = "pods list"
LIST_EVENTS = "events list"


class KubernetesAdapter(CloudAdapter):
    """Deployments in one namespace of one cluster (kube context = account.cluster)."""

    provider = "kubernetes"
    # cpu/memory are the container's limits; the requests (what the scheduler reserves) apart.
    scaling_fields = (*CloudAdapter.scaling_fields, "cpu_request", "memory_request")
    no_traffic_split_reason = NO_SPLIT
    page_size = 250  # items per list call; longer lists are read in chunks (`continue`)
    unschedulable_grace_s = 60.0  # a cluster autoscaler may add a node: give it this long
    deadline_margin_s = 30.0  # waited past progressDeadlineSeconds for the controller's verdict
    max_wait_s = 3 * 3600.0

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
        deployment = self.call(
            GET_DEPLOYMENT,
            f"deployments/{name} in namespace {namespace}",
            kube_json.read_json,
            self.apps.read_namespaced_deployment,
            name,
            namespace,
            _request_timeout=self.pacing.request_timeout_s,
        )
        hpas = self._optional(LIST_HPAS, namespace, self._hpas, namespace)
        services = self._optional(LIST_SERVICES, namespace, self._services, namespace)
        return self._snapshot(deployment, hpas or {}, services or [], service.url)

    def describe_many(self, services: list[ServiceRef]) -> dict[str, ServiceSnapshot | Exception]:
        """Three lists for the whole namespace (Deployments, HPAs, Services) instead of a read
        and two lists per service; per-service reads when the role may not list Deployments."""
        if len(services) < 2:
            return super().describe_many(services)
        namespace = self._namespace(self.account)
        try:
            deployments = self._list_json(
                LIST_DEPLOYMENTS, namespace, self.apps.list_namespaced_deployment
            )
        except PermissionDenied:
            return super().describe_many(services)
        by_name = {d["metadata"]["name"]: d for d in deployments}
        try:
            hpas = self._optional(LIST_HPAS, namespace, self._hpas, namespace) or {}
            found_services = (
                self._optional(LIST_SERVICES, namespace, self._services, namespace) or []
            )
        except CloudError as exc:
            return {ref.resource: exc for ref in services}
        found: dict[str, ServiceSnapshot | Exception] = {}
        for ref in services:
            deployment = by_name.get(ref.resource)
            if deployment is None:
                found[ref.resource] = build_error(
                    NotFound,
                    provider="Kubernetes",
                    account=self.account.name,
                    permission=GET_DEPLOYMENT,
                    resource=f"deployments/{ref.resource} in namespace {namespace}",
                    status=404,
                )
                continue
            try:
                found[ref.resource] = self._snapshot(deployment, hpas, found_services, ref.url)
            except Exception as exc:  # one oddly shaped Deployment: that service only
                found[ref.resource] = exc
        return found

    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Deployments in the namespace, filtered server-side by a label selector."""
        namespace = self._namespace(account)
        deployments = self._list_json(
            LIST_DEPLOYMENTS,
            namespace,
            self.apps.list_namespaced_deployment,
            label_selector=label or None,
        )
        hpas = self._optional(LIST_HPAS, namespace, self._hpas, namespace) or {}
        services = self._optional(LIST_SERVICES, namespace, self._services, namespace) or []
        return [
            self._snapshot(d, hpas, services, "")
            for d in deployments
            if label_matches(d["metadata"].get("labels") or {}, label)
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
        if any(
            v is not None
            for v in (settings.cpu, settings.memory, settings.cpu_request, settings.memory_request)
        ):
            container = _resources_patch(before, settings, resource, progress)
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

    def _hpas(self, namespace: str) -> dict[str, dict]:
        """HPAs that target a Deployment, by Deployment name (the API's JSON)."""
        return kube_json.hpas_by_target(
            kube_json.list_pages(
                self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
                namespace,
                limit=self.page_size,
                _request_timeout=self.pacing.request_timeout_s,
            )
        )

    def _services(self, namespace: str) -> list[dict]:
        return kube_json.list_pages(
            self.core.list_namespaced_service,
            namespace,
            limit=self.page_size,
            _request_timeout=self.pacing.request_timeout_s,
        )

    def _list_json(self, permission: str, namespace: str, fn: Any, **kw: Any) -> list[dict]:
        """`_list_all` as the API's JSON: no typed models for lists only read."""
        return self.call(
            permission,
            f"namespace {namespace}",
            kube_json.list_pages,
            fn,
            namespace,
            limit=self.page_size,
            _request_timeout=self.pacing.request_timeout_s,
            **kw,
        )

    def _optional(self, permission: str, namespace: str, fn: Any, *args: Any) -> Any:
        """Extra detail that describe can live without when the role does not grant it."""
        try:
            return self.call(permission, f"namespace {namespace}", fn, *args)
        except PermissionDenied:
            return None

    def _patch_hpa(
        self,
        namespace: str,
        hpa: dict,
        settings: ScalingSettings,
        progress: ProgressCallback | None,
    ) -> None:
        spec: dict[str, int] = {}
        if settings.min_instances is not None:
            spec["minReplicas"] = settings.min_instances
        if settings.max_instances is not None:
            spec["maxReplicas"] = settings.max_instances
        name = hpa["metadata"]["name"]
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
        patch: Any,
        before: Any,
        timeout_s: float,
        progress: ProgressCallback | None,
        *,
        done: str = "",
    ) -> OperationResult:
        """Send the patch, then wait for a truthful verdict (see `_watch`)."""
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
        return self._watch(namespace, name, patched, before, timeout_s, progress, done=done)

    def _watch(
        self,
        namespace: str,
        name: str,
        patched: Any,
        before: Any,
        timeout_s: float,
        progress: ProgressCallback | None,
        *,
        done: str = "",
    ) -> OperationResult:
        """Follow the rollout the way `kubectl rollout status` does, and beyond it.

        The wait lasts at least the Deployment's progressDeadlineSeconds (plus a margin), so a
        stalled rollout ends with the controller's ProgressDeadlineExceeded rather than an
        "unknown"; meanwhile the new ReplicaSet's pods are read, and a pod the kubelet can only
        back off on (CrashLoopBackOff, OOMKilled, ImagePullBackOff) or that stays unschedulable
        fails the rollout early with that reason.
        """
        generation = patched.metadata.generation
        operation_id = f"{namespace}/deployment/{name}@generation={generation}"
        revision_before = _revision(before)
        deadline = patched.spec.progress_deadline_seconds or 600
        wait_s = max(timeout_s, min(deadline + self.deadline_margin_s, self.max_wait_s))
        if wait_s > timeout_s:
            say(
                progress,
                f"Waiting up to {wait_s:g}s: the Deployment's progressDeadlineSeconds is "
                f"{deadline}, and its own verdict comes after that.",
            )
        seen: dict[str, Any] = {}
        unschedulable_since: dict[str, float] = {}

        def check() -> Step:
            deployment = self._read(namespace, name)
            seen["deployment"] = deployment
            step = _rollout_step(deployment, generation)
            if step.done or (deployment.status.observed_generation or 0) < generation:
                return step
            problem = self._pod_problem(namespace, deployment, unschedulable_since)
            if problem:
                return Step(True, f"Rollout failed: {problem}", failed=True, revision=step.revision)
            return step

        outcome = poll_until(check, timeout_s=wait_s, pacing=self.pacing, progress=progress)
        last = seen.get("deployment", patched)
        image_before, image_after = _image(before), _image(last)
        if not isinstance(outcome, Step):
            result = unknown_result(
                operation_id=operation_id,
                revision_before=revision_before,
                where=f"the cluster (kubectl rollout status deployment/{name} -n {namespace})",
                timeout_s=wait_s,
                error=outcome,
            )
            result.image_before, result.image_after = image_before, image_after
            if outcome is None:  # still in progress: say what the pods are doing
                result.diagnostics = self._diagnostics(namespace, last)
            return result
        if outcome.failed:
            return OperationResult(
                status="failed",
                operation_id=operation_id,
                revision_before=revision_before,
                revision_after=outcome.revision,
                message=outcome.message + " The Deployment keeps retrying: roll back, or fix "
                "the cause and release again.",
                image_before=image_before,
                image_after=image_after,
                diagnostics=self._diagnostics(namespace, last),
            )
        return OperationResult(
            status="succeeded",
            operation_id=operation_id,
            revision_before=revision_before,
            revision_after=outcome.revision,
            message=done or f"Deployment {name} rolled out (revision {outcome.revision}).",
            image_before=image_before,
            image_after=image_after,
        )

    # -- releases ----------------------------------------------------------------------------
    def supports_traffic_split(self, service: ServiceRef) -> bool:
        """Plain Deployments have no traffic split (see NO_SPLIT)."""
        return False

    def list_revisions(self, service: ServiceRef) -> list[Revision]:
        """The Deployment's ReplicaSets as revisions, newest first.

        `traffic_percent` is the share of the Deployment's ready pods each one has: behind a
        Service, kube-proxy spreads connections over ready pods, not by revision.
        """
        namespace, name = self._namespace(service.account), service.resource
        deployment = self._read(namespace, name)
        sets = self._replicasets(namespace, deployment)
        current = _revision(deployment)
        ready = {_revision(rs): (rs.status.ready_replicas or 0) for rs in sets}
        total = sum(ready.values())
        chosen = _container_name(deployment, "")
        revisions = [
            Revision(
                name=_revision(rs),
                image=_template_image(rs.spec.template, chosen),
                created=rs.metadata.creation_timestamp.isoformat()
                if rs.metadata.creation_timestamp
                else "",
                traffic_percent=round(100 * ready[_revision(rs)] / total) if total else None,
                active=_revision(rs) == current,
                ready=(rs.status.ready_replicas or 0) >= (rs.spec.replicas or 0)
                if _revision(rs) == current
                else None,
            )
            for rs in sets
        ]
        return sorted(revisions, key=lambda r: int(r.name or 0), reverse=True)

    def release(
        self,
        service: ServiceRef,
        image: str,
        *,
        reason: str = "",
        traffic_percent: int | None = None,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """`kubectl set image`: patch one container's image and wait for the rolling update.

        `image` may name the container as `kubectl set image` does ("server=repo:tag");
        otherwise the pod template's default-container annotation or its only container is
        used, and a Deployment with several containers is refused naming them.
        """
        namespace, name = self._namespace(service.account), service.resource
        resource = f"deployments/{name} in namespace {namespace}"
        if traffic_percent is not None:
            raise InvalidRequest(
                f"No canary for {resource}: {NO_SPLIT}. Release without a traffic percentage "
                "for a rolling update instead.",
                provider="Kubernetes",
                resource=resource,
            )
        wanted_container, _, new_image = image.rpartition("=")
        for attempt in range(1, 4):
            before = self._read(namespace, name)
            container = _container_name(before, wanted_container, resource)
            current = _template_image(before.spec.template, container)
            if current == new_image:
                revision = _revision(before)
                return OperationResult(
                    status="succeeded",
                    operation_id=f"{namespace}/deployment/{name}",
                    revision_before=revision,
                    revision_after=revision,
                    message=f"Container {container} already runs {new_image}: nothing to roll out.",
                    image_before=current,
                    image_after=current,
                )
            annotations = {CHANGE_CAUSE: (reason or f"image {new_image}")[:200]}
            patch = {
                # resourceVersion makes the patch conditional: if someone changed the
                # Deployment since we read it, the API answers 409 and we read it again.
                "metadata": {"resourceVersion": before.metadata.resource_version,
                             "annotations": annotations},
                "spec": {"template": {"spec": {"containers": [
                    {"name": container, "image": new_image}]}}},
            }  # fmt: skip
            say(
                progress,
                f"Setting container {container} of {namespace}/{name}: {current} → {new_image}",
            )
            try:
                return self._patch_and_wait(
                    namespace, name, patch, before, timeout_s, progress,
                    done=f"Deployment {name} now runs {new_image} in container {container}.",
                )  # fmt: skip
            except InvalidRequest as exc:
                if exc.status != 409 or attempt == 3:
                    raise
                say(progress, "The Deployment changed while we were patching it; reading it again")
        raise AssertionError("unreachable")  # pragma: no cover

    def rollback(
        self,
        service: ServiceRef,
        revision: str,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """`kubectl rollout undo --to-revision`: put a recorded ReplicaSet's pod template back.

        The controller then scales that ReplicaSet up again under a new revision number.
        """
        namespace, name = self._namespace(service.account), service.resource
        resource = f"deployments/{name} in namespace {namespace}"
        for attempt in range(1, 4):
            before = self._read(namespace, name)
            if before.spec.paused:
                raise InvalidRequest(
                    f"{resource} is paused: resume it (kubectl rollout resume) before rolling back.",
                    provider="Kubernetes",
                    resource=resource,
                )
            sets = self._replicasets(namespace, before)
            target = next(
                (rs for rs in sets if revision in (_revision(rs), rs.metadata.name)), None
            )
            if target is None:
                recorded = ", ".join(sorted((_revision(rs) for rs in sets), key=int)) or "none"
                raise NotFound(
                    f"{resource} has no revision {revision} (recorded revisions: {recorded}; "
                    "older ones are gone past spec.revisionHistoryLimit).",
                    provider="Kubernetes",
                    resource=resource,
                )
            if _revision(target) == _revision(before):
                raise InvalidRequest(
                    f"{resource} already runs revision {revision}: nothing to roll back.",
                    provider="Kubernetes",
                    resource=resource,
                )
            template = self.api_client.sanitize_for_serialization(target.spec.template)
            (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
            annotations = dict(before.metadata.annotations or {})
            annotations[CHANGE_CAUSE] = (reason or f"rollback to revision {revision}")[:200]
            # The JSON patch `kubectl rollout undo` sends, plus the resourceVersion we read as a
            # precondition (409 if the Deployment changed meanwhile).
            patch = [
                {"op": "replace", "path": "/spec/template", "value": template},
                {"op": "replace", "path": "/metadata/annotations", "value": annotations},
                {
                    "op": "replace",
                    "path": "/metadata/resourceVersion",
                    "value": before.metadata.resource_version,
                },
            ]
            chosen = _container_name(before, "")
            say(
                progress,
                f"Rolling {namespace}/{name} back to the pod template of revision "
                f"{_revision(target)} ({_template_image(target.spec.template, chosen)})",
            )
            try:
                result = self._patch_and_wait(
                    namespace, name, patch, before, timeout_s, progress,
                    done=f"Deployment {name} rolled back to the template of revision "
                    f"{_revision(target)}.",
                )  # fmt: skip
            except InvalidRequest as exc:
                if exc.status != 409 or attempt == 3:
                    raise
                say(progress, "The Deployment changed while we were patching it; reading it again")
                continue
            if result.status == "succeeded":
                result.message += f" It is now revision {result.revision_after}."
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # -- pods, events and ReplicaSets ----------------------------------------------------------
    def _list_all(self, permission: str, namespace: str, fn: Any, **kw: Any) -> list[Any]:
        """Every item of a list call, read in chunks of `page_size` (`limit` + `continue`)."""
        items: list[Any] = []
        token = None
        while True:
            page = self.call(
                permission,
                f"namespace {namespace}",
                fn,
                namespace,
                limit=self.page_size,
                _continue=token,
                _request_timeout=self.pacing.request_timeout_s,
                **kw,
            )
            items.extend(page.items or [])
            token = page.metadata._continue if page.metadata else None
            if not token:
                return items

    def _replicasets(self, namespace: str, deployment: Any) -> list[Any]:
        """The ReplicaSets this Deployment owns (by owner uid, as the controller does)."""
        selector = _selector(deployment.spec.selector.match_labels or {})
        sets = self._list_all(
            LIST_REPLICASETS,
            namespace,
            self.apps.list_namespaced_replica_set,
            label_selector=selector,
        )
        uid = deployment.metadata.uid
        return [
            rs for rs in sets if any(o.uid == uid for o in (rs.metadata.owner_references or []))
        ]

    def _new_pods(self, namespace: str, deployment: Any) -> tuple[Any, list[Any]]:
        """The ReplicaSet of the Deployment's current revision and its pods."""
        current = _revision(deployment)
        rs = next(
            (r for r in self._replicasets(namespace, deployment) if _revision(r) == current),
            None,
        )
        if rs is None:
            return None, []
        pods = self._list_all(
            LIST_PODS,
            namespace,
            self.core.list_namespaced_pod,
            label_selector=_selector(rs.spec.selector.match_labels or {}),
        )
        return rs, pods

    def _pod_problem(
        self, namespace: str, deployment: Any, unschedulable_since: dict[str, float]
    ) -> str:
        """Why the new pods cannot become ready by themselves, or "" (none, or cannot tell)."""
        try:
            _rs, pods = self._new_pods(namespace, deployment)
        except PermissionDenied:
            return ""  # without pods list, the progress deadline still decides
        for pod in pods:
            if problem := _pod_problem(pod, unschedulable_since, self.unschedulable_grace_s):
                return problem
        return ""

    def _diagnostics(self, namespace: str, deployment: Any) -> list[str]:
        """Conditions, the new pods' states and recent warning events, one line each."""
        lines = [
            f"Deployment condition {c.type}={c.status}"
            + (f" ({c.reason})" if c.reason else "")
            + (f": {c.message}" if c.message else "")
            for c in (deployment.status.conditions if deployment.status else None) or []
            if c.status != "True"
        ]
        names = {deployment.metadata.name}
        try:
            rs, pods = self._new_pods(namespace, deployment)
        except CloudError as exc:
            return [*lines, f"Could not read the pods: {exc}"]
        if rs is not None:
            names.add(rs.metadata.name)
        for pod in pods[:5]:
            names.add(pod.metadata.name)
            lines.append(_pod_line(pod))
        if len(pods) > 5:
            lines.append(f"… and {len(pods) - 5} more pod(s) of the new ReplicaSet")
        try:
            events = self._list_all(
                LIST_EVENTS,
                namespace,
                self.core.list_namespaced_event,
                field_selector="type=Warning",
            )
        except CloudError as exc:
            return [*lines, f"Could not read the events: {exc}"]
        recent = sorted(
            (e for e in events if e.involved_object and e.involved_object.name in names),
            key=lambda e: str(e.last_timestamp or e.event_time or ""),
        )[-10:]
        for event in recent:
            count = f" (×{event.count})" if (event.count or 1) > 1 else ""
            lines.append(
                f"Event {event.type} {event.reason} on {event.involved_object.kind}/"
                f"{event.involved_object.name}{count}: {event.message}"
            )
        return lines

    def _snapshot(
        self, deployment: dict, hpas: dict[str, dict], services: list[dict], url: str
    ) -> ServiceSnapshot:
        return kube_json.snapshot(deployment, hpas, services, url, self.account.region)

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
        error = build_error(
            cls,
            provider="Kubernetes",
            account=self.account.name,
            permission=permission,
            resource=resource,
            detail=detail,
            status=status,
            hint=_rbac_hint(permission, self._namespace(self.account)),
        )
        if isinstance(exc, ApiException):  # API Priority and Fairness sends Retry-After on 429
            error.retry_after_s = retry_after_seconds((exc.headers or {}).get("Retry-After"))
        return error


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
    deployment: Any, settings: ScalingSettings, resource: str, progress: ProgressCallback | None
) -> dict:
    """A strategic-merge container entry setting limits and requests, each as asked.

    A request above its limit is refused here, naming both, rather than silently lowered: the
    request is what the scheduler reserves, so changing it is the operator's decision.
    """
    name = _container_name(deployment, "")
    container = next(c for c in deployment.spec.template.spec.containers if c.name == name)
    current = container.resources
    requests = dict((current.requests or {}) if current else {})
    limits = dict((current.limits or {}) if current else {})
    new_limits = {k: v for k, v in (("cpu", settings.cpu), ("memory", settings.memory)) if v}
    new_requests = {
        k: v for k, v in (("cpu", settings.cpu_request), ("memory", settings.memory_request)) if v
    }
    limits.update(new_limits)
    requests.update(new_requests)
    for kind in ("cpu", "memory"):
        if (
            kind in requests
            and kind in limits
            and _quantity(requests[kind]) > _quantity(limits[kind])
        ):
            raise InvalidRequest(
                f"{resource}: the {kind} request ({requests[kind]}) would be above the {kind} "
                f"limit ({limits[kind]}) of container {name}; set {kind}_request to at most "
                f"{limits[kind]} too, or raise {kind}.",
                provider="Kubernetes",
                resource=resource,
            )
    patch: dict[str, Any] = {"name": name, "resources": {}}
    if new_limits:
        patch["resources"]["limits"] = new_limits
        say(progress, f"Setting container {name} limits to {new_limits}")
    if new_requests:
        patch["resources"]["requests"] = new_requests
        say(progress, f"Setting container {name} requests to {new_requests}")
    return patch


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
             "Ti": 2**40}  # fmt: skip
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * units[suffix]
    return float(value)


def _revision(obj: Any) -> str:
    """The deployment.kubernetes.io/revision of a Deployment or ReplicaSet."""
    return (obj.metadata.annotations or {}).get(REVISION_ANNOTATION, "")


def _container_name(deployment: Any, wanted: str, resource: str = "") -> str:
    """The container a release or the snapshot is about: the named one, the pod template's
    kubectl.kubernetes.io/default-container, or the only one; several without a name is an error
    when `resource` is given (a release), else the first (a description)."""
    template = deployment.spec.template
    names = [c.name for c in template.spec.containers]
    if wanted:
        if wanted not in names:
            raise InvalidRequest(
                f"{resource} has no container '{wanted}' (containers: {', '.join(names)}).",
                provider="Kubernetes",
                resource=resource,
            )
        return wanted
    default = ((template.metadata.annotations or {}) if template.metadata else {}).get(
        DEFAULT_CONTAINER, ""
    )
    if default in names:
        return default
    if len(names) == 1 or not resource:
        return names[0]
    raise InvalidRequest(
        f"{resource} has {len(names)} containers ({', '.join(names)}): say which one gets the new "
        f"image (the release's container field), or set the pod template annotation "
        f"{DEFAULT_CONTAINER}.",
        provider="Kubernetes",
        resource=resource,
    )


def _template_image(template: Any, container: str) -> str:
    return next((c.image or "" for c in template.spec.containers if c.name == container), "")


def _image(deployment: Any) -> str:
    return _template_image(deployment.spec.template, _container_name(deployment, ""))


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _pod_problem(pod: Any, unschedulable_since: dict[str, float], grace_s: float) -> str:
    """The kubelet's or scheduler's reason this pod will not become ready by itself, or ""."""
    name = pod.metadata.name
    status = pod.status
    for cs in (status.container_statuses if status else None) or []:
        last = cs.last_state.terminated if cs.last_state else None
        waiting = cs.state.waiting if cs.state else None
        if last is not None and last.reason == "OOMKilled" and not cs.ready:
            return (
                f"OOMKilled: container {cs.name} of pod {name} was killed for running out of "
                f"memory (exit code {last.exit_code}, {cs.restart_count} restarts); raise its "
                "memory limit or fix the leak."
            )
        if waiting is not None and waiting.reason in STUCK_WAITING:
            after = ""
            if last is not None:
                after = f"; last exit code {last.exit_code} ({last.reason})"
            return (
                f"{waiting.reason}: container {cs.name} of pod {name}: {waiting.message or ''}"
                f" ({cs.restart_count} restarts{after})."
            )
    for condition in (status.conditions if status else None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            first = unschedulable_since.setdefault(name, time.monotonic())
            if time.monotonic() - first >= grace_s:
                return (
                    f"FailedScheduling: pod {name} cannot be scheduled "
                    f"({condition.reason}): {condition.message}"
                )
    return ""


def _pod_line(pod: Any) -> str:
    """One diagnostics line per pod: phase, each container's state, restarts, last exit."""
    status = pod.status
    parts = [f"Pod {pod.metadata.name}: {status.phase if status else 'unknown'}"]
    for condition in (status.conditions if status else None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            parts.append(f"not scheduled ({condition.reason}: {condition.message})")
    for cs in (status.container_statuses if status else None) or []:
        state = cs.state
        if state and state.waiting:
            now = f"waiting {state.waiting.reason}" + (
                f" ({state.waiting.message})" if state.waiting.message else ""
            )
        elif state and state.terminated:
            now = f"terminated {state.terminated.reason} (exit {state.terminated.exit_code})"
        else:
            now = "running" + ("" if cs.ready else ", not ready")
        last = cs.last_state.terminated if cs.last_state else None
        previous = f", last exit {last.exit_code} ({last.reason})" if last else ""
        parts.append(f"container {cs.name} {now}, {cs.restart_count} restarts{previous}")
    return "; ".join(parts)


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
