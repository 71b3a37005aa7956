"""A strict local fake of the Kubernetes API: Deployments and their ReplicaSets, Pods, Events,
HorizontalPodAutoscalers and Services, with a pretend Deployment controller and kubelet.

What it models, each from the official reference (cited beside the code that does it):
- apps/v1 Deployments: GET, list, PATCH in strategic-merge, merge and JSON-patch flavours;
  a pod-template change bumps `metadata.generation`, and the rollout is asynchronous: the next
  read still shows the old `status.observedGeneration`, then a new ReplicaSet (its
  `deployment.kubernetes.io/revision` annotation one above the highest) is scaled up while the
  old one is scaled down, `updatedReplicas`/`availableReplicas` progressing over the next reads.
  A template equal to an old ReplicaSet's (a rollback) reuses that ReplicaSet under a new
  revision number, as the controller does.
- `spec.progressDeadlineSeconds`: a rollout that makes no progress for that long (wall clock)
  gets the `Progressing=False, reason=ProgressDeadlineExceeded` condition.
- Pods of a broken rollout show the kubelet's own states (CrashLoopBackOff, OOMKilled,
  ImagePullBackOff, Unschedulable) and the matching Events (BackOff, Failed, FailedScheduling).
- Optimistic concurrency: a write carrying a stale `metadata.resourceVersion` gets 409 Conflict.
- Chunked lists: `limit` and `continue`, with `metadata.continue` and `remainingItemCount`.
- Custom resources the audit reads, served only when "installed" (404 otherwise): Gateway API
  Gateways/HTTPRoutes, Istio AuthorizationPolicies/RequestAuthentications, GKE BackendConfigs
  (kubernetes_crds.py, with their references).
- Errors are `Status` objects; 429 carries Retry-After; a bearer token is required.
Run standalone: `python -m fleet.demo.emulators.kubernetes --port 8182` (namespace "mcp", seeded).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.demo.emulators.kubernetes_crds import (
    CRD_GROUPS,
    CRD_INSTALLS,
    CRD_KINDS,
    CRD_ROUTES,
    CrdSeeding,
)
from fleet.demo.emulators.patching import PatchError, json_patch, merge_patch, strategic_merge_patch
from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

# https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/replica-set-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/event-v1/ (core/v1 Event)
# What the console's audit reads (list only; cluster-scoped kinds have an empty namespace group):
# https://kubernetes.io/docs/reference/kubernetes-api/policy-resources/network-policy-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/service-resources/ingress-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/role-binding-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/cluster-role-binding-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/role-v1/
# https://kubernetes.io/docs/reference/kubernetes-api/authorization-resources/cluster-role-v1/
# PodMetrics of metrics-server (metrics.k8s.io/v1beta1), ServiceMonitor/PodMonitor of the
# Prometheus Operator (monitoring.coreos.com/v1, a CRD: 404 when it is not installed), and
# "read log of the specified Pod" (GET /api/v1/namespaces/{ns}/pods/{name}/log, text/plain).
_EVIDENCE_ROUTES = [
    (
        re.compile(
            r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/networkpolicies(?:/([^/]+))?$"
        ),
        "networkpolicies",
    ),
    (
        re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/ingresses(?:/([^/]+))?$"),
        "ingresses",
    ),
    (
        re.compile(
            r"^/apis/rbac\.authorization\.k8s\.io/v1/namespaces/([^/]+)/rolebindings(?:/([^/]+))?$"
        ),
        "rolebindings",
    ),
    (
        re.compile(
            r"^/apis/rbac\.authorization\.k8s\.io/v1/namespaces/([^/]+)/roles(?:/([^/]+))?$"
        ),
        "roles",
    ),
    (
        re.compile(r"^/apis/rbac\.authorization\.k8s\.io/v1/()clusterrolebindings(?:/([^/]+))?$"),
        "clusterrolebindings",
    ),
    (
        re.compile(r"^/apis/rbac\.authorization\.k8s\.io/v1/()clusterroles(?:/([^/]+))?$"),
        "clusterroles",
    ),
    (
        re.compile(r"^/apis/metrics\.k8s\.io/v1beta1/namespaces/([^/]+)/pods(?:/([^/]+))?$"),
        "podmetrics",
    ),
    (
        re.compile(
            r"^/apis/monitoring\.coreos\.com/v1/namespaces/([^/]+)/servicemonitors(?:/([^/]+))?$"
        ),
        "servicemonitors",
    ),
    (
        re.compile(
            r"^/apis/monitoring\.coreos\.com/v1/namespaces/([^/]+)/podmonitors(?:/([^/]+))?$"
        ),
        "podmonitors",
    ),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$"), "podlogs"),
    # https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/persistent-volume-claim-v1/
    (
        re.compile(r"^/api/v1/namespaces/([^/]+)/persistentvolumeclaims(?:/([^/]+))?$"),
        "persistentvolumeclaims",
    ),
    # https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/storage-class-v1/
    # (cluster-scoped: no namespace in the path)
    (
        re.compile(r"^/apis/storage\.k8s\.io/v1/()storageclasses(?:/([^/]+))?$"),
        "storageclasses",
    ),
    *CRD_ROUTES,  # Gateway API, Istio security, GKE BackendConfig (kubernetes_crds.py)
]
_ROUTES = [
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments(?:/([^/]+))?$"), "deployments"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/replicasets(?:/([^/]+))?$"), "replicasets"),
    (
        re.compile(
            r"^/apis/autoscaling/v2/namespaces/([^/]+)/horizontalpodautoscalers(?:/([^/]+))?$"
        ),
        "horizontalpodautoscalers",
    ),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/services(?:/([^/]+))?$"), "services"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?$"), "pods"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/events(?:/([^/]+))?$"), "events"),
    *_EVIDENCE_ROUTES,
]
_GROUPS = {
    "deployments": "apps",
    "replicasets": "apps",
    "horizontalpodautoscalers": "autoscaling",
    "services": "",
    "pods": "",
    "events": "",
    "networkpolicies": "networking.k8s.io",
    "ingresses": "networking.k8s.io",
    "rolebindings": "rbac.authorization.k8s.io",
    "roles": "rbac.authorization.k8s.io",
    "clusterrolebindings": "rbac.authorization.k8s.io",
    "clusterroles": "rbac.authorization.k8s.io",
    "podmetrics": "metrics.k8s.io",
    "servicemonitors": "monitoring.coreos.com",
    "podmonitors": "monitoring.coreos.com",
    "podlogs": "",
    "persistentvolumeclaims": "",
    "storageclasses": "storage.k8s.io",
    **CRD_GROUPS,
}
_KINDS = {
    "deployments": ("apps/v1", "Deployment"),
    "replicasets": ("apps/v1", "ReplicaSet"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "services": ("v1", "Service"),
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy"),
    "ingresses": ("networking.k8s.io/v1", "Ingress"),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    "roles": ("rbac.authorization.k8s.io/v1", "Role"),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    "podmetrics": ("metrics.k8s.io/v1beta1", "PodMetrics"),
    "servicemonitors": ("monitoring.coreos.com/v1", "ServiceMonitor"),
    "podmonitors": ("monitoring.coreos.com/v1", "PodMonitor"),
    "podlogs": ("v1", "Pod"),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim"),
    "storageclasses": ("storage.k8s.io/v1", "StorageClass"),
    **CRD_KINDS,
}
_PATCHABLE = {"deployments", "horizontalpodautoscalers"}
_PATCH_TYPES = {
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
}
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
# Field selectors the API server supports per kind (others answer 400), from the reference:
# https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/
_FIELD_SELECTORS = {
    "events": {
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    },
    "pods": {"metadata.name", "status.phase", "spec.nodeName"},
}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' SafeEncodeString
# What a broken rollout looks like to the kubelet, one per fault (pod-v1: ContainerStateWaiting,
# ContainerStateTerminated; events from the kubelet and the scheduler).
FAULTS = ("crashloop", "oomkilled", "imagepull", "unschedulable", "stuck")


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (cores or bytes), for comparisons."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(value)
    number = float(str(value)[: len(str(value)) - len(match.group(2) or "")])
    scale = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2,
             "Gi": 1024**3, "Ti": 1024**4}  # fmt: skip
    return number * scale.get(match.group(2) or "", 1)


def template_hash(template: dict) -> str:
    """A stable pod-template-hash for a template (the controller hashes the template too)."""
    plain = copy.deepcopy(template)
    (plain.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    digest = hashlib.sha1(json.dumps(plain, sort_keys=True).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


@dataclass
class _Rollout:
    """One Deployment's rollout in progress, as the pretend controller tracks it."""

    reads: int = 0
    fault: str = ""
    new_rs: str = ""
    last_progress: float = field(default_factory=time.monotonic)


_EVIDENCE_KINDS = frozenset(kind for _, kind in _EVIDENCE_ROUTES)
# The user-facing ClusterRoles every cluster has, reduced to what decides "broad":
# https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_DEFAULT_CLUSTER_ROLES: dict[str, list[dict]] = {
    "cluster-admin": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["*"]},
    ],
    "admin": [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
         "verbs": ["get", "list", "watch", *_WRITE]},
        {"apiGroups": [""], "resources": ["pods", "secrets", "services", "configmaps"],
         "verbs": ["get", "list", "watch", *_WRITE]},
    ],
    "edit": [
        {"apiGroups": [""], "resources": ["pods", "secrets", "services", "configmaps"],
         "verbs": ["get", "list", "watch", *_WRITE]},
        {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
         "verbs": ["get", "list", "watch", *_WRITE]},
    ],
    "view": [
        {"apiGroups": ["", "apps"], "resources": ["pods", "services", "configmaps", "deployments"],
         "verbs": ["get", "list", "watch"]},
    ],
}  # fmt: skip


class _EvidenceSeeding:
    """Seeding and serving what the console's audit reads: network policies, ingresses, RBAC,
    monitors, pod metrics and pod logs (mixed into FakeKubernetes)."""

    objects: dict[str, dict[tuple[str, str], dict]]
    metrics_server: bool
    prometheus_operator: bool
    pod_usage: dict[tuple[str, str], dict[str, str]]
    pod_logs: dict[tuple[str, str], list[str]]

    def add_object(self, kind: str, name: str, namespace: str, body: dict) -> dict:
        """Any object of an audit-read kind (namespace "" for cluster-scoped ones)."""
        api_version, kind_name = _KINDS[kind]
        labels = body.pop("labels", {})
        annotations = body.pop("annotations", None)
        metadata = self._metadata(name, namespace, labels)  # type: ignore[attr-defined]
        metadata.pop("generation")
        if not namespace:
            metadata.pop("namespace")
        if annotations:
            metadata["annotations"] = dict(annotations)
        obj = {"apiVersion": api_version, "kind": kind_name, "metadata": metadata, **body}
        self.objects[kind][(namespace, name)] = obj
        return obj

    def add_network_policy(
        self,
        name: str,
        *,
        pod_selector: dict[str, str],
        allow_from: list[dict] | None = None,
        namespace: str = "mcp",
    ) -> dict:
        """A NetworkPolicy of type Ingress; `allow_from` is its one ingress rule's `from` list
        (None: no rule, so nothing may connect; [] : an empty `from`, so anyone may)."""
        rules = [] if allow_from is None else [{"from": allow_from}]
        return self.add_object(
            "networkpolicies",
            name,
            namespace,
            {
                "spec": {
                    "podSelector": {"matchLabels": dict(pod_selector)},
                    "policyTypes": ["Ingress"],
                    "ingress": rules,
                }
            },
        )

    def add_ingress(
        self,
        name: str,
        *,
        service: str,
        host: str,
        port: int = 80,
        annotations: dict[str, str] | None = None,
        namespace: str = "mcp",
        tls: bool = True,
        ingress_class: str = "nginx",
    ) -> dict:
        """An Ingress routing `host` to a Service port, with the controller's load balancer IP
        (`ingress_class` "gce" is GKE's own controller, the one that honours BackendConfigs)."""
        spec: dict[str, Any] = {
            "ingressClassName": ingress_class,
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": port}}},
                            }
                        ]
                    },
                }
            ],
        }
        if tls:
            spec["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
        ip = f"198.51.100.{len(self.objects['ingresses']) + 10}"
        return self.add_object(
            "ingresses",
            name,
            namespace,
            {
                "annotations": annotations or {},
                "spec": spec,
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
            },
        )

    def add_storage_class(
        self,
        name: str,
        provisioner: str,
        parameters: dict[str, str] | None = None,
        *,
        default: bool = False,
    ) -> dict:
        """A StorageClass (cluster-scoped); `default` marks it the cluster's default class with
        the storageclass.kubernetes.io/is-default-class annotation."""
        body: dict[str, Any] = {
            "provisioner": provisioner,
            "parameters": dict(parameters or {}),
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        if default:
            body["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
        return self.add_object("storageclasses", name, "", body)

    def add_claim(
        self, name: str, *, storage_class: str | None = None, namespace: str = "mcp"
    ) -> dict:
        """A bound PersistentVolumeClaim; `storage_class` None leaves spec.storageClassName unset
        (as a claim made before any default class existed), "" binds it outside any class."""
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "volumeName": f"pvc-{name}",
        }
        if storage_class is not None:
            spec["storageClassName"] = storage_class
        return self.add_object(
            "persistentvolumeclaims", name, namespace, {"spec": spec, "status": {"phase": "Bound"}}
        )

    def add_role(self, name: str, rules: list[dict], *, namespace: str = "") -> dict:
        """A Role in `namespace`, or a ClusterRole when namespace is ""."""
        kind = "roles" if namespace else "clusterroles"
        return self.add_object(kind, name, namespace, {"rules": copy.deepcopy(rules)})

    def bind_role(
        self,
        name: str,
        *,
        service_account: str,
        role: str,
        role_kind: str = "ClusterRole",
        namespace: str = "mcp",
        cluster_wide: bool = False,
    ) -> dict:
        """A RoleBinding in `namespace` (or a ClusterRoleBinding) granting `role` to the pods'
        ServiceAccount."""
        body = {
            "subjects": [
                {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        }
        if cluster_wide:
            return self.add_object("clusterrolebindings", name, "", body)
        return self.add_object("rolebindings", name, namespace, body)

    def _seed_cluster_roles(self) -> None:
        for name, rules in _DEFAULT_CLUSTER_ROLES.items():
            self.add_role(name, rules)

    def _read_evidence(
        self, request: RecordedRequest, kind: str, namespace: str, name: str
    ) -> Reply:
        error = self.error  # type: ignore[attr-defined]
        if request.method != "GET":
            return error(405, f"method {request.method} not allowed on {kind}", request)
        missing = kind == "podmetrics" and not self.metrics_server
        missing = missing or (
            kind in ("servicemonitors", "podmonitors") and not self.prometheus_operator
        )
        missing = missing or (kind in CRD_INSTALLS and CRD_INSTALLS[kind] not in self.crds)
        if missing:  # an API group nobody serves: the API server's plain 404
            return error(404, "the server could not find the requested resource", request)
        if kind == "podlogs":
            return self._pod_log(request, namespace, name)
        if kind == "podmetrics":
            self._refresh_pod_metrics(namespace)
        if not name:
            return self._list(request, kind, namespace)  # type: ignore[attr-defined]
        obj = self.objects[kind].get((namespace, name))
        if obj is None:
            return error(404, f'{kind}.{_GROUPS[kind]} "{name}" not found', request)
        return Reply(200, obj)

    def _owner_deployment(self, pod: dict) -> tuple[str, str] | None:
        namespace = pod["metadata"]["namespace"]
        for (ns, dep_name), dep in self.objects["deployments"].items():
            labels = dep["spec"]["selector"]["matchLabels"]
            if ns == namespace and _selects(list(labels.items()), pod["metadata"]["labels"]):
                return (ns, dep_name)
        return None

    def _pod_log(self, request: RecordedRequest, namespace: str, name: str) -> Reply:
        """The container's log as text; `tailLines` keeps the last lines (pod-v1 read log)."""
        pod = self.objects["pods"].get((namespace, name))
        if pod is None:
            return self.error(404, f'pods "{name}" not found', request)  # type: ignore[attr-defined]
        owner = self._owner_deployment(pod)
        lines = list(self.pod_logs.get(owner, [])) if owner else []
        tail = request.query.get("tailLines", "")
        if tail:
            if not tail.isdigit():
                return self.error(400, f'invalid tailLines "{tail}"', request)  # type: ignore[attr-defined]
            lines = lines[-int(tail) :] if int(tail) else []
        return Reply(200, "".join(f"{line}\n" for line in lines))

    def _refresh_pod_metrics(self, namespace: str) -> None:
        """One PodMetrics per running pod of a Deployment with recorded usage (metrics-server
        reports a 30 s window per container)."""
        found: dict[tuple[str, str], dict] = {}
        for (ns, pod_name), pod in sorted(self.objects["pods"].items()):
            owner = self._owner_deployment(pod) if ns == namespace else None
            usage = self.pod_usage.get(owner) if owner else None
            if usage is None or not _pod_ready(pod):
                continue
            containers = pod["spec"]["containers"]
            found[(ns, pod_name)] = {
                "apiVersion": "metrics.k8s.io/v1beta1",
                "kind": "PodMetrics",
                "metadata": {
                    "name": pod_name,
                    "namespace": ns,
                    "labels": dict(pod["metadata"]["labels"]),
                    "creationTimestamp": "2025-01-01T00:10:00Z",
                },
                "timestamp": "2025-01-01T00:09:45Z",
                "window": "30s",
                "containers": [
                    {
                        "name": c["name"],
                        "usage": dict(usage) if i == 0 else {"cpu": "1m", "memory": "4Mi"},
                    }
                    for i, c in enumerate(containers)
                ],
            }
        self.objects["podmetrics"] = {
            k: v for k, v in self.objects["podmetrics"].items() if k[0] != namespace
        } | found


class FakeKubernetes(_EvidenceSeeding, CrdSeeding, FakeServer):
    """In-memory kube-apiserver subset with a pretend Deployment controller, kubelet and HPA."""

    def __init__(self, *, port: int = 0, token: str | None = None, rollout_gets: int = 3) -> None:
        super().__init__(port=port)
        self.token = token  # None: any bearer token is accepted, but one must be sent
        # Reads of the Deployment a healthy rollout takes after the controller observed it;
        # 0 = new pods never become ready (a "stuck" rollout, caught by the progress deadline).
        self.rollout_gets = rollout_gets
        self.user = "system:serviceaccount:fleet:console"
        self.objects: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in _KINDS}
        self._rollouts: dict[tuple[str, str], _Rollout] = {}
        self._resource_version = 1000
        self._clock = datetime(2025, 1, 1, tzinfo=UTC)
        # Faults for the next rollouts: per Deployment (namespace, name) or per image.
        self.rollout_faults: dict[tuple[str, str], str] = {}
        self.image_faults: dict[str, str] = {}
        # A write by someone else lands just before the console's next PATCH of these.
        self.concurrent_writes: set[tuple[str, str]] = set()
        # What the audit reads besides the workloads (see the "audit evidence" section below).
        self.metrics_server = True  # metrics.k8s.io served (metrics-server installed)
        self.prometheus_operator = False  # monitoring.coreos.com CRDs installed
        # Installed custom resources: "gateway-api", "istio", "gke" (see kubernetes_crds.py).
        self.crds: set[str] = set()
        self.pod_usage: dict[tuple[str, str], dict[str, str]] = {}  # per Deployment, per pod
        self.pod_logs: dict[tuple[str, str], list[str]] = {}  # per Deployment: its pods' log
        self._seed_cluster_roles()

    @property
    def failing_rollouts(self) -> _FaultSet:
        """Deployments whose next rollouts never progress (the progress deadline catches them)."""
        return _FaultSet(self.rollout_faults)

    # -- seeding -----------------------------------------------------------------------------
    def add_deployment(
        self,
        name: str,
        *,
        namespace: str = "mcp",
        image: str = "ghcr.io/example/mcp-weather:1.4.2",
        replicas: int = 2,
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        secret_env: dict[str, tuple[str, str]] | None = None,
        cpu: str = "500m",
        memory: str = "256Mi",
        requests: dict[str, str] | None = None,
        limits: dict[str, str] | None = None,
        service_account: str = "mcp-weather",
        hpa: tuple[int, int] | None = None,
        service_type: str | None = "ClusterIP",
        port: int = 8080,
        sidecars: list[dict] | None = None,
        progress_deadline_s: int = 600,
        pod_annotations: dict[str, str] | None = None,
        pod_spec: dict[str, Any] | None = None,
        container_extra: dict[str, Any] | None = None,
    ) -> dict:
        """A fully rolled-out Deployment (with its revision-1 ReplicaSet and ready Pods),
        optionally with an HPA and a Service in front."""
        app_labels = {"app": name}
        env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
        for key, (secret, secret_key) in (secret_env or {}).items():
            env_list.append(
                {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}}
            )
        resources = {
            "limits": dict(limits) if limits is not None else {"cpu": cpu, "memory": memory},
            "requests": dict(requests) if requests is not None else {"cpu": cpu, "memory": memory},
        }
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": self._metadata(name, namespace, {**app_labels, **(labels or {})}),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": app_labels},
                "template": {
                    "metadata": {"labels": dict(app_labels)},
                    "spec": {
                        "serviceAccountName": service_account,
                        "containers": [
                            {
                                "name": "server",
                                "image": image,
                                "env": env_list,
                                "ports": [{"containerPort": port, "protocol": "TCP"}],
                                "resources": {k: v for k, v in resources.items() if v},
                            },
                            *(sidecars or []),
                        ],
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": progress_deadline_s,
            },
        }
        template = deployment["spec"]["template"]
        if pod_annotations:  # e.g. prometheus.io/scrape, read by the audit
            template["metadata"]["annotations"] = dict(pod_annotations)
        template["spec"].update(copy.deepcopy(pod_spec or {}))  # grace period, volumes
        template["spec"]["containers"][0].update(copy.deepcopy(container_extra or {}))  # preStop
        key = (namespace, name)
        self.objects["deployments"][key] = deployment
        rs = self._replicaset_for(key, deployment)
        deployment["metadata"]["annotations"] = {REVISION_ANNOTATION: _revision_of(rs)}
        self._scale(rs, replicas, ready=True)
        deployment["status"] = self._settled_status(deployment)
        if hpa is not None:
            self.objects["horizontalpodautoscalers"][key] = {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": self._metadata(name, namespace, dict(app_labels)),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": hpa[0],
                    "maxReplicas": hpa[1],
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 70},
                            },
                        }
                    ],
                },
                "status": {"currentReplicas": replicas, "desiredReplicas": replicas},
            }
        if service_type is not None:
            service: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": self._metadata(name, namespace, dict(app_labels)),
                "spec": {
                    "type": service_type,
                    "selector": dict(app_labels),
                    "ports": [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}],
                    "clusterIP": f"10.96.0.{len(self.objects['services']) + 10}",
                },
                "status": {"loadBalancer": {}},
            }
            if service_type == "LoadBalancer":
                ip = f"203.0.113.{len(self.objects['services']) + 10}"
                service["status"]["loadBalancer"] = {"ingress": [{"ip": ip}]}
            self.objects["services"][key] = service
        return deployment

    def deployment(self, name: str, namespace: str = "mcp") -> dict:
        return self.objects["deployments"][(namespace, name)]

    def replicasets_of(self, name: str, namespace: str = "mcp") -> list[dict]:
        """The Deployment's ReplicaSets, oldest revision first."""
        uid = self.deployment(name, namespace)["metadata"]["uid"]
        owned = [
            rs
            for (ns, _), rs in self.objects["replicasets"].items()
            if ns == namespace and _owner_uid(rs) == uid
        ]
        return sorted(owned, key=lambda rs: int(_revision_of(rs)))

    def pods_of(self, rs: dict) -> list[dict]:
        labels = rs["spec"]["selector"]["matchLabels"]
        namespace = rs["metadata"]["namespace"]
        return [
            pod
            for (ns, _), pod in sorted(self.objects["pods"].items())
            if ns == namespace and _selects(list(labels.items()), pod["metadata"]["labels"])
        ]

    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _metadata(self, name: str, namespace: str, labels: dict[str, str]) -> dict:
        self._resource_version += 1
        return {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": str(self._resource_version),
            "creationTimestamp": self._now(),
            "labels": labels,
        }

    def _touch(self, obj: dict) -> None:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)

    def _settled_status(self, deployment: dict) -> dict:
        replicas = deployment["spec"]["replicas"]
        name = deployment["metadata"]["name"]
        return {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable",
                    "message": f'ReplicaSet "{self._current_rs_name(deployment) or name}" has '
                    "successfully progressed.",
                },
            ],
        }

    def _current_rs_name(self, deployment: dict) -> str:
        revision = (deployment["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
        namespace = deployment["metadata"]["namespace"]
        uid = deployment["metadata"]["uid"]
        for (ns, name), rs in self.objects["replicasets"].items():
            if ns == namespace and _owner_uid(rs) == uid and _revision_of(rs) == revision:
                return name
        return ""

    # -- ReplicaSets, Pods and Events (the pretend controller and kubelet) --------------------
    def _replicaset_for(self, key: tuple[str, str], deployment: dict) -> dict:
        """The ReplicaSet for the Deployment's current template: an old one whose template is
        the same (it gets the next revision number, as after `kubectl rollout undo`) or a new
        one. https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-to-a-previous-revision
        """
        namespace, name = key
        template = deployment["spec"]["template"]
        digest = template_hash(template)
        rs_name = f"{name}-{digest}"
        existing = [rs for rs in self.replicasets_of(name, namespace)]
        highest = max((int(_revision_of(rs)) for rs in existing), default=0)
        rs = self.objects["replicasets"].get((namespace, rs_name))
        if rs is not None:
            rs["metadata"]["annotations"][REVISION_ANNOTATION] = str(highest + 1)
            self._touch(rs)
            return rs
        pod_template = copy.deepcopy(template)
        pod_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
        selector = {**deployment["spec"]["selector"]["matchLabels"], HASH_LABEL: digest}
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                **self._metadata(rs_name, namespace, dict(pod_template["metadata"]["labels"])),
                "annotations": {REVISION_ANNOTATION: str(highest + 1)},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": deployment["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": selector},
                "template": pod_template,
            },
            "status": {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0},
        }
        self.objects["replicasets"][(namespace, rs_name)] = rs
        self._event(deployment, "Normal", "ScalingReplicaSet", f"Created replica set {rs_name}")
        return rs

    def _scale(self, rs: dict, replicas: int, *, ready: bool, fault: str = "") -> None:
        """Set the ReplicaSet's size; its Pods follow, in the state `fault` gives them."""
        namespace = rs["metadata"]["namespace"]
        pods = self.pods_of(rs)
        for pod in pods[replicas:]:
            del self.objects["pods"][(namespace, pod["metadata"]["name"])]
        for index in range(len(pods), replicas):
            suffix = hashlib.sha1(f"{rs['metadata']['name']}-{index}".encode()).hexdigest()[:5]
            pod_name = f"{rs['metadata']['name']}-{suffix}"
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    **self._metadata(
                        pod_name, namespace, dict(rs["spec"]["template"]["metadata"]["labels"])
                    ),
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": rs["metadata"]["name"],
                            "uid": rs["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(rs["spec"]["template"]["spec"]),
                "status": {},
            }
            self.objects["pods"][(namespace, pod_name)] = pod
        wanted = "ready" if ready else (fault or "starting")
        for pod in self.pods_of(rs):
            if pod["status"].get("fault") != wanted:
                self._set_pod_state(pod, wanted)
        if rs["spec"]["replicas"] != replicas:
            owner = self.objects["deployments"].get(
                (namespace, rs["metadata"]["ownerReferences"][0]["name"])
            )
            if owner is not None and rs["spec"]["replicas"] is not None:
                verb = "up" if replicas > rs["spec"]["replicas"] else "down"
                self._event(
                    owner,
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled {verb} replica set {rs['metadata']['name']} to {replicas}",
                )
        rs["spec"]["replicas"] = replicas
        ready_count = sum(1 for p in self.pods_of(rs) if _pod_ready(p))
        rs["status"] = {
            "replicas": replicas,
            "readyReplicas": ready_count,
            "availableReplicas": ready_count,
            "observedGeneration": rs["metadata"]["generation"],
        }
        self._touch(rs)

    def _set_pod_state(self, pod: dict, state: str) -> None:
        """The Pod's status as the kubelet (or the scheduler) reports it in `state`.
        https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-states"""
        name = pod["metadata"]["name"]
        containers = pod["spec"]["containers"]
        first = containers[0]
        ready = state == "ready"
        statuses = [
            {
                "name": c["name"],
                "image": c["image"],
                "imageID": f"{c['image'].split('@')[0].rsplit(':', 1)[0]}@sha256:"
                + hashlib.sha256(c["image"].encode()).hexdigest(),
                "ready": ready,
                "restartCount": 0,
                "started": ready,
                "state": {"running": {"startedAt": self._now()}},
            }
            for c in containers
        ]
        conditions = [{"type": "PodScheduled", "status": "True"}]
        phase = "Running"
        if state == "crashloop":
            statuses[0].update(
                restartCount=4,
                state={
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 1m20s restarting failed container={first['name']} pod={name}",
                    }
                },
                lastState={"terminated": {"reason": "Error", "exitCode": 1}},
            )
            self._event(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {first['name']} in pod {name}",
            )
        elif state == "oomkilled":
            statuses[0].update(
                restartCount=3,
                state={
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 40s restarting failed container={first['name']} pod={name}",
                    }
                },
                lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}},
            )
            self._event(
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {first['name']} in pod {name}",
            )
        elif state == "imagepull":
            statuses[0].update(
                imageID="",
                state={
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{first["image"]}"',
                    }
                },
            )
            self._event(
                pod,
                "Warning",
                "Failed",
                f'Failed to pull image "{first["image"]}": rpc error: code = NotFound desc = failed to pull and unpack image "{first["image"]}": not found',
            )
        elif state == "unschedulable":
            phase, statuses = "Pending", []
            message = "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
            conditions = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": message,
                }
            ]
            self._event(pod, "Warning", "FailedScheduling", message, source="default-scheduler")
        elif state in ("stuck", "starting"):
            statuses[0].update(ready=False)
            if state == "stuck":
                self._event(
                    pod,
                    "Warning",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                )
        conditions.append({"type": "Ready", "status": "True" if ready else "False"})
        pod["status"] = {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": statuses,
            "fault": state,
        }
        self._touch(pod)

    def _event(self, obj: dict, kind: str, reason: str, message: str, source: str = "") -> None:
        """A core/v1 Event about `obj`; a repeat of the same event bumps its count."""
        meta = obj["metadata"]
        namespace = meta["namespace"]
        for event in self.objects["events"].values():
            same = event["involvedObject"]["uid"] == meta["uid"] and event["reason"] == reason
            if same and event["message"] == message:
                event["count"] += 1
                event["lastTimestamp"] = self._now()
                return
        name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
        stamp = self._now()
        component = source or ("kubelet" if obj["kind"] == "Pod" else "deployment-controller")
        self.objects["events"][(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                k: v for k, v in self._metadata(name, namespace, {}).items() if k != "labels"
            },
            "involvedObject": {
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": namespace,
                "uid": meta["uid"],
                "apiVersion": obj["apiVersion"],
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": component},
        }

    # -- errors ------------------------------------------------------------------------------
    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        kind, _namespace, name = self._parse(request.path)
        details: dict[str, Any] = {}
        if kind:
            details = {"kind": kind, "group": _GROUPS[kind]} | ({"name": name} if name else {})
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": _REASONS.get(status, "InternalError"),
            "details": details,
            "code": status,
        }
        # API Priority and Fairness answers 429 with Retry-After:
        # https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
        headers = {"Retry-After": "1"} if status == 429 else {}
        return Reply(status, body, headers)

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        kind, namespace, name = self._parse(request.path)
        resource = f"{kind}.{_GROUPS[kind]}" if kind and _GROUPS[kind] else (kind or "resource")
        verb = _VERBS.get(request.method, "get")
        if status == 403:
            if not name and request.method == "GET":
                verb = "list"
            target = f'"{name}" ' if name else ""
            group = _GROUPS.get(kind or "", "")
            return (
                f'{resource} {target}is forbidden: User "{self.user}" cannot {verb} resource '
                f'"{kind}" in API group "{group}" in the namespace "{namespace}"'
            )
        if status == 404:
            return f'{resource} "{name}" not found'
        if status == 429:
            return "Too many requests, please try again later."
        if status == 410 and request.query.get("continue"):
            # An expired continue token (etcd compacted past it): 410 Gone, reason Expired.
            # https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
            return (
                "The provided continue parameter is too old to display a consistent list "
                "result. You can start a new list without the continue parameter."
            )
        return super().fault_message(status, request)

    @staticmethod
    def _parse(path: str) -> tuple[str | None, str, str]:
        for pattern, kind in _ROUTES:
            if match := pattern.match(path):
                return kind, match.group(1), match.group(2) or ""
        return None, "", ""

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.token and auth != f"Bearer {self.token}"):
            return self.error(401, "Unauthorized", request)
        kind, namespace, name = self._parse(request.path)
        if kind is None:
            return self.error(404, "the server could not find the requested resource", request)
        if kind in _EVIDENCE_KINDS:
            return self._read_evidence(request, kind, namespace, name)
        if not name:
            if request.method != "GET":
                return self.error(405, f"{request.method} is not supported on a list", request)
            if kind == "deployments":
                for key in [k for k in self._rollouts if k[0] == namespace]:
                    self._progress_rollout(key)
            return self._list(request, kind, namespace)
        key = (namespace, name)
        obj = self.objects[kind].get(key)
        if obj is None or not _DNS_SUBDOMAIN.match(name):
            resource = f"{kind}.{_GROUPS[kind]}" if _GROUPS[kind] else kind
            return self.error(404, f'{resource} "{name}" not found', request)
        if request.method == "GET":
            if kind == "deployments":
                self._progress_rollout(key)
            return Reply(200, _public(self.objects[kind][key]))
        if request.method == "PATCH" and kind in _PATCHABLE:
            return self._patch(request, kind, key)
        return self.error(405, f"method {request.method} not allowed on {kind}", request)

    def _list(self, request: RecordedRequest, kind: str, namespace: str) -> Reply:
        """A list, optionally in chunks: `limit` caps the page and `metadata.continue` carries
        on. https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks
        """
        selector = _parse_selector(request.query.get("labelSelector", ""))
        if selector is None:
            return self.error(400, "unable to parse requirement: invalid label selector", request)
        fields = _parse_selector(request.query.get("fieldSelector", ""))
        allowed = _FIELD_SELECTORS.get(kind, set()) | {"metadata.name", "metadata.namespace"}
        if fields is None or any(k not in allowed or v is None for k, v in fields):
            bad = next((k for k, _ in fields or [] if k not in allowed), "")
            return self.error(
                400,
                f'"{bad}" is not a known field selector: only "{", ".join(sorted(allowed))}"'
                if bad
                else "invalid field selector",
                request,
            )
        items = [
            obj
            for (ns, _), obj in sorted(self.objects[kind].items())
            if ns == namespace
            and _selects(selector, obj["metadata"].get("labels") or {})
            and all(_field(obj, k) == v for k, v in fields)
        ]
        start = 0
        token = request.query.get("continue", "")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token))["start"])
            except (ValueError, KeyError, TypeError):
                return self.error(400, "continue key is not valid: illegal base64 data", request)
        limit = request.query.get("limit", "")
        metadata: dict[str, Any] = {"resourceVersion": str(self._resource_version)}
        if limit:
            if not limit.isdigit():
                return self.error(400, f'invalid limit "{limit}"', request)
            end = start + int(limit) if int(limit) > 0 else len(items)
            if end < len(items):
                metadata["continue"] = base64.urlsafe_b64encode(
                    json.dumps({"start": end, "rv": self._resource_version}).encode()
                ).decode()
                metadata["remainingItemCount"] = len(items) - end
            items = items[start:end]
        else:
            items = items[start:]
        api_version, kind_name = _KINDS[kind]
        return Reply(
            200,
            {
                "apiVersion": api_version,
                "kind": f"{kind_name}List",
                "metadata": metadata,
                "items": [_public(i) for i in items],
            },
        )

    def _patch(self, request: RecordedRequest, kind: str, key: tuple[str, str]) -> Reply:
        content_type = request.content_type
        if content_type not in _PATCH_TYPES:
            return self.error(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(sorted(_PATCH_TYPES))}, application/apply-patch+yaml",
                request,
            )
        if key in self.concurrent_writes:  # someone else's write lands first
            self.concurrent_writes.discard(key)
            other = self.objects[kind][key]
            other["metadata"].setdefault("annotations", {})["example.com/touched-by"] = "ci"
            self._touch(other)
        current = self.objects[kind][key]
        try:
            if content_type == "application/json-patch+json":
                updated = json_patch(current, request.body)
            elif content_type == "application/merge-patch+json":
                updated = merge_patch(current, request.body)
            else:
                if not isinstance(request.body, dict):
                    raise PatchError("strategic merge patch must be a JSON object")
                updated = strategic_merge_patch(current, request.body)
        except (PatchError, KeyError, IndexError, ValueError, TypeError) as exc:
            return self.error(400, str(exc), request)
        api_version, kind_name = _KINDS[kind]
        resource = f"{kind}.{api_version.split('/')[0]}"
        # Optimistic concurrency: a patch that sets metadata.resourceVersion is a precondition.
        # https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
        if updated["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return self.error(
                409,
                f'Operation cannot be fulfilled on {resource} "{key[1]}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                request,
            )
        updated["status"] = current.get("status", {})
        problem = _validate(kind, key[1], current, updated)
        if problem:
            return self.error(
                422,
                f'{kind_name}.{api_version.split("/")[0]} "{key[1]}" is invalid: {problem}',
                request,
            )
        self._touch(updated)
        if updated["spec"] != current["spec"]:
            updated["metadata"]["generation"] = current["metadata"]["generation"] + 1
        self.objects[kind][key] = updated
        if kind == "deployments":
            self._start_rollout(key, current, updated)
        if kind == "horizontalpodautoscalers":
            self._apply_hpa(key, updated)
        return Reply(200, _public(updated))

    # -- the pretend Deployment controller -----------------------------------------------------
    def _start_rollout(self, key: tuple[str, str], before: dict, after: dict) -> None:
        """A template change starts a rollout the controller has not observed yet: status
        (observedGeneration included) stays as it was until the next read."""
        if after["spec"]["template"] != before["spec"]["template"]:
            images = [c["image"] for c in after["spec"]["template"]["spec"]["containers"]]
            fault = self.rollout_faults.get(key, "")
            fault = next((self.image_faults[i] for i in images if i in self.image_faults), fault)
            if not fault and self.rollout_gets == 0:
                fault = "stuck"
            self._rollouts[key] = _Rollout(fault=fault)
        elif after["spec"]["replicas"] != before["spec"]["replicas"] and key not in self._rollouts:
            rs = self.objects["replicasets"].get((key[0], self._current_rs_name(after)))
            if rs is not None:
                self._scale(rs, after["spec"]["replicas"], ready=True)
            after["status"] = self._settled_status(after)

    def _progress_rollout(self, key: tuple[str, str]) -> None:
        rollout = self._rollouts.get(key)
        if rollout is None:
            return
        deployment = self.objects["deployments"][key]
        rollout.reads += 1
        if rollout.reads == 1:
            return  # the controller has not observed the new generation yet
        # Every status write by the controller is a new resourceVersion, as on a real API server.
        self._touch(deployment)
        replicas = deployment["spec"]["replicas"]
        status = deployment["status"]
        if not rollout.new_rs:  # observe: make (or reuse) the ReplicaSet for the new template
            rs = self._replicaset_for(key, deployment)
            rollout.new_rs = rs["metadata"]["name"]
            deployment["metadata"].setdefault("annotations", {})[REVISION_ANNOTATION] = (
                _revision_of(rs)
            )
            status["observedGeneration"] = deployment["metadata"]["generation"]
        new_rs = self.objects["replicasets"][(key[0], rollout.new_rs)]
        old = [
            rs
            for rs in self.replicasets_of(key[1], key[0])
            if rs["metadata"]["name"] != rollout.new_rs
        ]
        step = rollout.reads - 1
        healthy = not rollout.fault
        if healthy and step > self.rollout_gets - 1 and self.rollout_gets:
            self._scale(new_rs, replicas, ready=True)
            for rs in old:
                self._scale(rs, 0, ready=True)
            deployment["status"] = self._settled_status(deployment)
            del self._rollouts[key]
            return
        # Rolling update with maxSurge 25 % (at least one pod): one new pod at a time.
        updated = min(replicas, step) if healthy else 1
        if healthy and updated > int(new_rs["status"].get("readyReplicas") or 0):
            rollout.last_progress = time.monotonic()
        self._scale(new_rs, updated, ready=healthy, fault=rollout.fault)
        old_total = replicas + 1 - updated if updated < replicas else 1
        for rs in old[:-1]:
            self._scale(rs, 0, ready=True)
        if old:
            self._scale(old[-1], min(old_total, replicas), ready=True)
        total = sum(rs["spec"]["replicas"] for rs in [new_rs, *old])
        available = sum(int(rs["status"].get("availableReplicas") or 0) for rs in [new_rs, *old])
        status.update(
            replicas=total,
            updatedReplicas=updated,
            readyReplicas=available,
            availableReplicas=available,
            unavailableReplicas=max(0, total - available),
        )
        progressing = {
            "type": "Progressing",
            "status": "True",
            "reason": "ReplicaSetUpdated",
            "message": f'ReplicaSet "{rollout.new_rs}" is progressing.',
        }
        # https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#failed-deployment
        deadline = deployment["spec"].get("progressDeadlineSeconds", 600)
        if time.monotonic() - rollout.last_progress > deadline:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{rollout.new_rs}" has timed out progressing.',
            }
        status["conditions"] = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            progressing,
        ]

    def _apply_hpa(self, key: tuple[str, str], hpa: dict) -> None:
        target = hpa["spec"]["scaleTargetRef"]["name"]
        deployment = self.objects["deployments"].get((key[0], target))
        if deployment is None:
            return
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        wanted = max(low, min(high, deployment["spec"]["replicas"]))
        if wanted != deployment["spec"]["replicas"]:
            deployment["spec"]["replicas"] = wanted
            deployment["metadata"]["generation"] += 1
            rs = self.objects["replicasets"].get((key[0], self._current_rs_name(deployment)))
            if rs is not None:
                self._scale(rs, wanted, ready=True)
            deployment["status"] = self._settled_status(deployment)
        hpa["status"] = {"currentReplicas": wanted, "desiredReplicas": wanted}


class _FaultSet:
    """`fake.failing_rollouts.add((ns, name))`: the Deployment's rollouts get stuck."""

    def __init__(self, faults: dict[tuple[str, str], str]) -> None:
        self.faults = faults

    def add(self, key: tuple[str, str], fault: str = "stuck") -> None:
        self.faults[key] = fault

    def discard(self, key: tuple[str, str]) -> None:
        self.faults.pop(key, None)


def _public(obj: dict) -> dict:
    """The object as the API serves it (without the fake's own bookkeeping)."""
    if obj.get("kind") == "Pod" and "fault" in obj.get("status", {}):
        obj = {**obj, "status": {k: v for k, v in obj["status"].items() if k != "fault"}}
    return obj


def _owner_uid(obj: dict) -> str:
    owners = obj["metadata"].get("ownerReferences") or []
    return owners[0]["uid"] if owners else ""


def _revision_of(rs: dict) -> str:
    return (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION, "0")


def _pod_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


def _field(obj: dict, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _parse_selector(text: str) -> list[tuple[str, str | None]] | None:
    requirements: list[tuple[str, str | None]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        key, value = key.rstrip("=!").strip(), value.lstrip("=").strip()
        if not key or not re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$", key):
            return None
        requirements.append((key, value if "=" in part else None))
    return requirements


def _selects(selector: list[tuple[str, str | None]], labels: dict[str, str]) -> bool:
    return all(k in labels and (v is None or labels[k] == v) for k, v in selector)


def _validate(kind: str, name: str, before: dict, after: dict) -> str:
    """The first reason the API server would refuse this object, or ""."""
    spec = after.get("spec") or {}
    if kind == "horizontalpodautoscalers":
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(high, int) or high < 1:
            return "spec.maxReplicas: Invalid value: must be greater than or equal to 1"
        if not isinstance(low, int) or low < 1:
            return f"spec.minReplicas: Invalid value: {low}: must be greater than or equal to 1"
        if low > high:
            return (
                f"spec.maxReplicas: Invalid value: {high}: "
                "must be greater than or equal to `minReplicas`"
            )
        return ""
    if kind != "deployments":
        return ""
    if spec.get("selector") != before["spec"]["selector"]:
        return "spec.selector: Invalid value: field is immutable"
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        return f"spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not _selects(list(spec["selector"]["matchLabels"].items()), labels):
        return (
            "spec.template.metadata.labels: Invalid value: "
            "`selector` does not match template `labels`"
        )
    for index, container in enumerate(spec["template"]["spec"].get("containers") or []):
        if not container.get("image"):
            return f"spec.template.spec.containers[{index}].image: Required value"
        resources = container.get("resources") or {}
        for section in ("limits", "requests"):
            for resource, value in (resources.get(section) or {}).items():
                try:
                    quantity(value)
                except ValueError:
                    return (
                        f"spec.template.spec.containers[{index}].resources.{section}[{resource}]: "
                        f'Invalid value: "{value}": quantities must match the regular expression'
                    )
        for resource, value in (resources.get("requests") or {}).items():
            limit = (resources.get("limits") or {}).get(resource)
            if limit is not None and quantity(value) > quantity(limit):
                return (
                    f"spec.template.spec.containers[{index}].resources.requests: Invalid value: "
                    f'"{value}": must be less than or equal to {resource} limit of {limit}'
                )
    return ""


def seed_demo(fake: FakeKubernetes) -> None:
    """A few MCP Deployments for the demo mode and manual poking."""
    fake.add_deployment(
        "mcp-weather",
        labels={"mcp-server": "true"},
        env={"LOG_LEVEL": "info"},
        secret_env={"WEATHER_API_KEY": ("weather", "api-key")},
        hpa=(2, 6),
        service_type="LoadBalancer",
    )
    fake.add_deployment("mcp-files", labels={"mcp-server": "true"}, replicas=1)
    fake.add_deployment("agent-backend", labels={"role": "agent"}, service_type=None)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Kubernetes API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8182)
    parser.add_argument("--rollout-gets", type=int, default=4)
    args = parser.parse_args()
    fake = FakeKubernetes(port=args.port, rollout_gets=args.rollout_gets)
    seed_demo(fake)
    print(f"fake Kubernetes API on http://127.0.0.1:{args.port} (namespace mcp)", flush=True)
    fake.serve_forever()


if __name__ == "__main__":
    main()
