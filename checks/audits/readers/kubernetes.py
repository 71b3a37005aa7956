"""Audit evidence read from the Kubernetes API, once per namespace per audit run.

For every Kubernetes account in scope the reader lists, with the official `kubernetes` client and
the console's own identity: Deployments, Services, Ingresses and NetworkPolicies
(networking.k8s.io/v1), RoleBindings, Roles, ClusterRoleBindings and ClusterRoles
(rbac.authorization.k8s.io/v1), ServiceMonitors and PodMonitors (monitoring.coreos.com/v1, when
the Prometheus Operator is installed), PodMetrics (metrics.k8s.io/v1beta1, when metrics-server is
installed), Pods and, where installed, Gateway API HTTPRoutes and Gateways (also in the
namespaces the routes' Gateways live in), Istio AuthorizationPolicies and RequestAuthentications,
and GKE BackendConfigs (kubernetes_gateway.py, kubernetes_istio.py, kubernetes_gke.py); then it
reads the recent log lines of one running pod per service. From these it answers, per service:
how pods are stopped (grace period, preStop), whether metrics are scraped, who can connect
(Services, Ingresses, HTTPRoutes, NetworkPolicies), whether the routes lead to ready
pods, rate-limit annotations on the Ingresses, the RBAC roles bound to the pods' ServiceAccount,
CPU/memory use against requests and limits, whether it keeps data (PersistentVolumeClaims,
datastore settings) and whether its logs are JSON.

A list the console may not read (403) or an API group nobody serves (404) is "nothing read" with
that reason for the facts that need it; other facts are still answered.
API reference: https://kubernetes.io/docs/reference/kubernetes-api/
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from checks.audits.evidence import (
    AUDIT_LOGS,
    ENCRYPTION,
    IDENTITY_GRANTS,
    METRICS,
    NETWORK,
    PLATFORM_AUTH,
    RATE_LIMITS,
    REACHABILITY,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    TRAFFIC,
    USAGE,
    Observation,
    Provenance,
)
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun, kubernetes_storage, log_lines
from checks.audits.readers.kubernetes_gateway import (
    GatewayRoute,
    backend_index,
    gateway_parent_namespaces,
    routes_to,
)
from checks.audits.readers.kubernetes_gke import backend_config, iap_enabled, security_policy
from checks.audits.readers.kubernetes_index import LabelIndex, SelectorIndex
from checks.audits.readers.kubernetes_istio import mesh_auth
from checks.probing.errors import describe_body
from fleet.operations.clouds.credentials import kubernetes_api_client

# PodSpec.terminationGracePeriodSeconds: "Defaults to 30 seconds." (pod-v1 reference)
DEFAULT_GRACE_S = 30
LOG_LINES = 50  # recent lines read per service
PAGE = 500
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
# ClusterRoles that grant writes to (nearly) everything in their scope, from the RBAC docs'
# user-facing roles: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles
BROAD_ROLES = {"cluster-admin", "admin", "edit"}
# Rate-limit annotations of the common ingress controllers (ingress-nginx, HAProxy, Traefik v1).
RATE_LIMIT_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/limit-rps": "requests per second per client",
    "nginx.ingress.kubernetes.io/limit-rpm": "requests per minute per client",
    "nginx.ingress.kubernetes.io/limit-connections": "connections per client",
    "haproxy.org/rate-limit-requests": "requests per period",
    "ingress.kubernetes.io/rate-limit": "requests per period",
}
# Ingress annotations with which the common controllers check callers before the service:
# ingress-nginx external auth, basic/digest auth and client certificates
# (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/),
# the AWS Load Balancer Controller's Cognito/OIDC authentication
# (https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/#authentication)
# and HAProxy's basic auth (https://www.haproxy.com/documentation/kubernetes-ingress/).
AUTH_ANNOTATIONS: dict[str, Callable[[str], bool]] = {
    "nginx.ingress.kubernetes.io/auth-url": bool,
    "nginx.ingress.kubernetes.io/auth-type": lambda v: v in ("basic", "digest"),
    "nginx.ingress.kubernetes.io/auth-tls-verify-client": lambda v: v == "on",
    "alb.ingress.kubernetes.io/auth-type": lambda v: v in ("cognito", "oidc"),
    "haproxy.org/auth-type": lambda v: v == "basic-auth",
}
# Annotations that delegate to objects the Kubernetes API alone does not explain (a Traefik
# Middleware may or may not authenticate): undecided rather than guessed.
OPAQUE_AUTH_ANNOTATIONS = ("traefik.ingress.kubernetes.io/router.middlewares",)
DATASTORE_ENV = re.compile(
    r"^(DATABASE_URL|DB_[A-Z_]+|[A-Z_]*_DSN|POSTGRES[A-Z_]*|PG(HOST|DATABASE|PASSWORD)|"
    r"MYSQL[A-Z_]*|MONGO[A-Z_]*|REDIS_URL)$"
)
AUDIT_POLICY_REASON = (
    "the Kubernetes API does not expose the API server's audit policy (a kube-apiserver flag; "
    "on GKE, EKS or AKS it is the cloud's audit log for the cluster)"
)


@dataclass
class NamespaceRead:
    """Everything listed in one namespace of one cluster; None = not read (see `why`)."""

    namespace: str
    where: str
    read_at: datetime
    lists: dict[str, list[dict] | None] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    api: Any = None
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)  # see `_once`
    # Gateways by (namespace, name), this namespace's and those its HTTPRoutes attach to
    # elsewhere; namespaces whose Gateways could not be listed, with why.
    gateways: dict[tuple[str, str], dict] = field(default_factory=dict)
    unread_gateways: dict[str, str] = field(default_factory=dict)

    def items(self, kind: str) -> list[dict]:
        return self.lists.get(kind) or []

    def origin(self, call: str) -> Provenance:
        return Provenance(f"Kubernetes API {call} ({self.where})", self.read_at)


# --- reading ------------------------------------------------------------------------------------


def _list(call: Callable[..., Any], *args: Any) -> list[dict]:
    """Every item of a list call as the API's JSON, page by page (`limit`/`continue`)."""
    items: list[dict] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE, "_preload_content": False}
        if token:
            kwargs["_continue"] = token
        body = json.loads(call(*args, **kwargs).data or b"{}")
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items


def _why(exc: Exception, what: str) -> str:
    if isinstance(exc, ApiException):
        if exc.status == 404:
            return f"{what} is not served by this cluster"
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except ValueError:
            message = ""
        return f"listing {what} failed ({exc.status} {message or exc.reason})".strip()
    return f"listing {what} failed ({type(exc).__name__}: {exc})"


def read_namespace(
    api_client: Any,
    namespace: str,
    where: str,
    read_at: datetime,
    deployments: list[dict] | None = None,
) -> NamespaceRead:
    """List what the audit needs in one namespace (and the cluster-wide RBAC objects);
    `deployments`, when given, are this run's own reads of them and are not listed again."""
    apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
    net, rbac = k8s.NetworkingV1Api(api_client), k8s.RbacAuthorizationV1Api(api_client)
    custom = k8s.CustomObjectsApi(api_client)
    ns = namespace
    calls: dict[str, tuple[str, Callable[[], list[dict]]]] = {
        "deployments": ("Deployments", lambda: _list(apps.list_namespaced_deployment, ns)),
        "services": ("Services", lambda: _list(core.list_namespaced_service, ns)),
        "pods": ("Pods", lambda: _list(core.list_namespaced_pod, ns)),
        "ingresses": ("Ingresses", lambda: _list(net.list_namespaced_ingress, ns)),
        "networkpolicies": (
            "NetworkPolicies",
            lambda: _list(net.list_namespaced_network_policy, ns),
        ),
        "rolebindings": ("RoleBindings", lambda: _list(rbac.list_namespaced_role_binding, ns)),
        "roles": ("Roles", lambda: _list(rbac.list_namespaced_role, ns)),
        "clusterrolebindings": (
            "ClusterRoleBindings",
            lambda: _list(rbac.list_cluster_role_binding),
        ),
        "clusterroles": ("ClusterRoles", lambda: _list(rbac.list_cluster_role)),
        "persistentvolumeclaims": (
            "PersistentVolumeClaims",
            lambda: _list(core.list_namespaced_persistent_volume_claim, ns),
        ),
        "storageclasses": (
            "StorageClasses (storage.k8s.io/v1)",
            lambda: _list(k8s.StorageV1Api(api_client).list_storage_class),
        ),
        "servicemonitors": (
            "ServiceMonitors (monitoring.coreos.com/v1)",
            lambda: _custom(custom, "monitoring.coreos.com", "v1", ns, "servicemonitors"),
        ),
        "podmonitors": (
            "PodMonitors (monitoring.coreos.com/v1)",
            lambda: _custom(custom, "monitoring.coreos.com", "v1", ns, "podmonitors"),
        ),
        "podmetrics": (
            "PodMetrics (metrics.k8s.io/v1beta1, metrics-server)",
            lambda: _custom(custom, "metrics.k8s.io", "v1beta1", ns, "pods"),
        ),
    }
    read = NamespaceRead(namespace, where, read_at, api=core)
    if deployments is not None:
        read.lists["deployments"] = deployments
        del calls["deployments"]
    for kind, (what, call) in calls.items():
        try:
            read.lists[kind] = call()
        except Exception as exc:  # each list on its own: one refused list is one missing fact
            read.lists[kind] = None
            read.why[kind] = _why(exc, what)
    for kind in OPTIONAL_RESOURCES:
        read.lists[kind], note = _list_optional(custom, kind, ns)
        if note:
            read.why[kind] = note
    _read_parent_gateways(read, custom)
    return read


# Custom resources that decide routes and caller checks where they are installed: a 404 on the
# group means "not installed" (nothing of that kind exists, so an empty list, not an error).
# kind: (group, versions, plural, what); the older version is asked only when the newer one is
# not served (Gateway API before v1.0, Istio before 1.22 serve v1beta1, with the same fields).
OPTIONAL_RESOURCES = {
    "gateways": (
        "gateway.networking.k8s.io", ("v1", "v1beta1"), "gateways", "Gateways (Gateway API)"
    ),
    "httproutes": (
        "gateway.networking.k8s.io", ("v1", "v1beta1"), "httproutes", "HTTPRoutes (Gateway API)"
    ),
    "authorizationpolicies": (
        "security.istio.io", ("v1", "v1beta1"), "authorizationpolicies",
        "Istio AuthorizationPolicies",
    ),
    "requestauthentications": (
        "security.istio.io", ("v1", "v1beta1"), "requestauthentications",
        "Istio RequestAuthentications",
    ),
    "backendconfigs": ("cloud.google.com", ("v1",), "backendconfigs", "GKE BackendConfigs"),
}  # fmt: skip


def _list_optional(custom: Any, kind: str, namespace: str) -> tuple[list[dict] | None, str]:
    """(items, note): [] with a note when the group is not installed, None with why on failure."""
    group, versions, plural, what = OPTIONAL_RESOURCES[kind]
    for version in versions:
        try:
            call = custom.list_namespaced_custom_object
            return _list(call, group, version, namespace, plural), ""
        except ApiException as exc:
            if exc.status != 404:
                return None, _refused(exc, f"{plural}.{group}", namespace, what)
        except Exception as exc:
            return None, _why(exc, what)
    return [], f"{what} not installed ({group} {', '.join(versions)} not served)"


def _refused_list(read: NamespaceRead, kind: str) -> bool:
    """Whether listing an optional kind failed (one never listed counts as not installed)."""
    return kind in read.lists and read.lists[kind] is None


def _refused(exc: ApiException, resource: str, namespace: str, what: str) -> str:
    """Why a list failed; a 403 names the RBAC permission the console lacks."""
    if exc.status == 403:
        return (
            f"listing {what} was refused (403): the console needs RBAC permission 'list "
            f"{resource}' in namespace {namespace}"
        )
    return _why(exc, what)


def _read_parent_gateways(read: NamespaceRead, custom: Any) -> None:
    """Gateways the namespace's HTTPRoutes attach to in other namespaces: one list per such
    namespace (a shared Gateway usually lives in its own), kept beside this namespace's."""
    read.gateways = {(read.namespace, g["metadata"]["name"]): g for g in read.items("gateways")}
    if _refused_list(read, "gateways"):
        read.unread_gateways[read.namespace] = read.why["gateways"]
    for other in sorted(gateway_parent_namespaces(read.items("httproutes"), read.namespace)):
        found, note = _list_optional(custom, "gateways", other)
        if found is None:
            read.unread_gateways[other] = note
            continue
        read.gateways |= {(other, g["metadata"]["name"]): g for g in found}


def _custom(api: Any, group: str, version: str, namespace: str, plural: str) -> list[dict]:
    body = json.loads(
        api.list_namespaced_custom_object(
            group, version, namespace, plural, _preload_content=False
        ).data
        or b"{}"
    )
    return body.get("items") or []


def _tail(read: NamespaceRead, pod: str, container: str) -> list[str]:
    text = read.api.read_namespaced_pod_log(
        pod, read.namespace, container=container, tail_lines=LOG_LINES, _preload_content=False
    ).data.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


# --- pieces of a Deployment ---------------------------------------------------------------------


def _pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"].get("spec") or {}


def _pod_labels(deployment: dict) -> dict[str, str]:
    return (deployment["spec"]["template"].get("metadata") or {}).get("labels") or {}


def _main_container(deployment: dict) -> dict:
    containers = _pod_spec(deployment).get("containers") or [{}]
    wanted = (deployment["spec"]["template"].get("metadata") or {}).get("annotations") or {}
    name = wanted.get(DEFAULT_CONTAINER) or (deployment["metadata"].get("annotations") or {}).get(
        DEFAULT_CONTAINER
    )
    return next((c for c in containers if c.get("name") == name), containers[0])


def _matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; {} selects all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _once(read: NamespaceRead, key: Any, build: Callable[[], Any]) -> Any:
    """`build()` once per namespace read (an index, a table); None when the lists are shaped
    unlike the reference, and the caller then scans in full (failing as it always did)."""
    if key not in read.memo:
        try:
            read.memo[key] = build()
        except Exception:
            read.memo[key] = None
    return read.memo[key]


def _per_deployment(
    read: NamespaceRead, key: str, deployment: dict, answer: Callable[[], Any]
) -> Any:
    """`answer()` once per Deployment: several facts ask the same question about it."""
    answers = read.memo.setdefault(key, {})
    hit = answers.get(id(deployment))
    if hit is None or hit[0] is not deployment:
        hit = answers[id(deployment)] = (deployment, answer())
    return hit[1]


def _candidates(read: NamespaceRead, kind: str, index: Any, labels: Any) -> list[dict]:
    items = read.items(kind)
    if index is None or not isinstance(labels, dict):
        return items
    return [items[i] for i in index.candidates(labels)]


def _services_for(read: NamespaceRead, deployment: dict) -> list[dict]:
    return _per_deployment(read, "services_for", deployment, lambda: _select(read, deployment))


def _select(read: NamespaceRead, deployment: dict) -> list[dict]:
    labels = _pod_labels(deployment)
    index = _once(
        read,
        "services",
        lambda: SelectorIndex(
            (s.get("spec") or {}).get("selector") for s in read.items("services")
        ),
    )
    return [
        s
        for s in _candidates(read, "services", index, labels)
        if (s.get("spec") or {}).get("selector")
        and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
    ]


def _by_name(read: NamespaceRead, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in read.items(kind)}


def _routes(read: NamespaceRead) -> list[tuple[dict, str, Any]]:
    """(ingress, host, backend) for every path of every Ingress, in list order."""
    found = []
    for ingress in read.items("ingresses"):
        spec = ingress.get("spec") or {}
        backends = [("*", (spec.get("defaultBackend") or {}).get("service"))]
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append(
                    (rule.get("host") or "*", (path.get("backend") or {}).get("service"))
                )
        found += [(ingress, host, backend) for host, backend in backends if backend]
    return found


def _routes_by_service(read: NamespaceRead) -> tuple[list, dict[Any, list[int]]]:
    routes = _routes(read)
    by_service: dict[Any, list[int]] = defaultdict(list)
    for position, (_, _, backend) in enumerate(routes):
        by_service[backend.get("name")].append(position)
    return routes, by_service


def _ingresses_for(read: NamespaceRead, services: list[dict]) -> list[tuple[dict, str, Any]]:
    """(ingress, host, backend port) for every Ingress path routed to one of these Services."""
    names = {s["metadata"]["name"] for s in services}
    indexed = _once(read, "routes", lambda: _routes_by_service(read))
    if indexed is None:
        return [r for r in _routes(read) if r[2].get("name") in names]
    routes, by_service = indexed
    return [routes[p] for p in sorted(p for name in names for p in by_service.get(name, ()))]


def _lb_address(obj: dict) -> str:
    entries = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ", ".join(e.get("ip") or e.get("hostname") or "" for e in entries)


# --- facts ----------------------------------------------------------------------------------------


def shutdown(read: NamespaceRead, deployment: dict) -> Observation:
    spec = _pod_spec(deployment)
    grace = spec.get("terminationGracePeriodSeconds")
    grace_s = DEFAULT_GRACE_S if grace is None else int(grace)
    hook = ((_main_container(deployment).get("lifecycle") or {}).get("preStop")) or {}
    drain, drain_s = "", 0
    if hook.get("sleep"):
        drain_s = int(hook["sleep"].get("seconds") or 0)
        drain = f"preStop sleep {drain_s} s"
    elif hook.get("exec"):
        command = " ".join(hook["exec"].get("command") or [])
        drain = f"preStop exec {command}"
        slept = re.search(r"\bsleep\s+(\d+)", command)
        drain_s = int(slept.group(1)) if slept else 0
    elif hook.get("httpGet"):
        drain = f"preStop GET {hook['httpGet'].get('path', '/')}"
    default = " (the default)" if grace is None else ""
    summary = f"terminationGracePeriodSeconds {grace_s}{default}; " + (drain or "no preStop hook")
    value = {"grace_s": grace_s, "drain": drain, "drain_s": drain_s, "drains_first": bool(drain)}
    return Observation(value, read.origin("read Deployment spec.template"), summary)


def metrics(read: NamespaceRead, deployment: dict) -> Observation:
    annotations = (deployment["spec"]["template"].get("metadata") or {}).get("annotations") or {}
    services = _services_for(read, deployment)
    origin = read.origin("read Deployment, list Services, ServiceMonitors, PodMonitors")
    if annotations.get("prometheus.io/scrape") == "true":
        port, path = (
            annotations.get("prometheus.io/port", "?"),
            annotations.get("prometheus.io/path", "/metrics"),
        )
        return Observation(True, origin, f"pod template prometheus.io/scrape (port {port}, {path})")
    for s in services:
        if ((s["metadata"].get("annotations") or {}).get("prometheus.io/scrape")) == "true":
            return Observation(
                True, origin, f"Service {s['metadata']['name']} prometheus.io/scrape"
            )
    for monitor in read.items("servicemonitors"):
        if any(
            _matches(monitor["spec"].get("selector"), s["metadata"].get("labels") or {})
            for s in services
        ):
            return Observation(True, origin, f"ServiceMonitor {monitor['metadata']['name']}")
    for monitor in read.items("podmonitors"):
        if _matches(monitor["spec"].get("selector"), _pod_labels(deployment)):
            return Observation(True, origin, f"PodMonitor {monitor['metadata']['name']}")
    operator = (
        "no ServiceMonitor or PodMonitor selects it"
        if read.lists.get("servicemonitors") is not None
        else "the Prometheus Operator is not installed"
    )
    return Observation(False, origin, f"no prometheus.io/scrape annotation; {operator}")


def _policies(read: NamespaceRead, deployment: dict) -> tuple[list[str], list[str]]:
    """NetworkPolicies restricting ingress to the pods, and those among them open to all."""
    selecting, open_ = _per_deployment(
        read, "policies", deployment, lambda: _fences(read, deployment)
    )
    return list(selecting), list(open_)


def _fences(read: NamespaceRead, deployment: dict) -> tuple[list[str], list[str]]:
    labels = _pod_labels(deployment)
    index = _once(
        read,
        "networkpolicies",
        lambda: SelectorIndex(
            ((p.get("spec") or {}).get("podSelector") or {}).get("matchLabels")
            for p in read.items("networkpolicies")
        ),
    )
    selecting, open_ = [], []
    for policy in _candidates(read, "networkpolicies", index, labels):
        spec = policy.get("spec") or {}
        types = spec.get("policyTypes") or ["Ingress"]
        if "Ingress" not in types or not _matches(spec.get("podSelector"), labels):
            continue
        name = policy["metadata"]["name"]
        selecting.append(name)
        # An ingress rule without `from` admits every source (networkpolicy-v1 reference).
        if any(not rule.get("from") for rule in spec.get("ingress") or []):
            open_.append(name)
    return selecting, open_


def _gateway_routes(read: NamespaceRead, services: list[dict]) -> list[GatewayRoute] | str:
    """HTTPRoute hops to these Services through their Gateways, or why they cannot be known."""
    if _refused_list(read, "httproutes"):
        return read.why["httproutes"]
    ns = read.namespace
    index = _once(read, "httproutes", lambda: backend_index(read.items("httproutes"), ns))
    key = ("hops", tuple(s["metadata"]["name"] for s in services))
    if key not in read.memo:  # four facts ask for the same service's routes
        hops = routes_to(index or {}, read.gateways, read.unread_gateways, ns, services)
        read.memo[key] = next((hop.unread for hop in hops if hop.unread), hops)
    return read.memo[key]


def _pods_of(read: NamespaceRead, deployment: dict) -> list[dict]:
    labels = deployment["spec"]["selector"].get("matchLabels") or {}
    return [
        p
        for p in _pods_selected(read, "pods", labels)
        if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
    ]


def network(read: NamespaceRead, deployment: dict) -> Observation | str:
    if read.lists.get("networkpolicies") is None:
        return read.why["networkpolicies"]
    services = _services_for(read, deployment)
    hops = _gateway_routes(read, services)
    if isinstance(hops, str):
        return hops
    entries, internet = [], False
    for s in services:
        kind = s["spec"].get("type") or "ClusterIP"
        if kind in ("LoadBalancer", "NodePort"):
            internet = True
            where = _lb_address(s) or "node ports"
            entries.append(f"Service {s['metadata']['name']} type {kind} ({where})")
        else:
            entries.append(f"Service {s['metadata']['name']} type {kind}")
    for ingress, host, _ in _ingresses_for(read, services):
        internet = True
        entries.append(f"Ingress {ingress['metadata']['name']} host {host}")
    for hop in hops:  # exposed the way its Gateway is, when the Gateway accepted the route
        if hop.entry:
            internet = internet or hop.internet
            entries.append(hop.entry + ("" if hop.internet else " (private address)"))
    selecting, open_ = _policies(read, deployment)
    value = {
        "exposure": "internet" if internet else ("cluster" if services else "none"),
        "entries": entries,
        "policies": selecting,
        "open_policies": open_,
    }
    policy_text = ", ".join(selecting) if selecting else "no NetworkPolicy selects the pods"
    summary = f"{'; '.join(entries) or 'no Service selects the pods'}; {policy_text}"
    return Observation(
        value,
        read.origin("list Services, Ingresses, HTTPRoutes, Gateways, NetworkPolicies"),
        summary,
    )


def reachability(read: NamespaceRead, deployment: dict) -> Observation | str:
    services = _services_for(read, deployment)
    hops = _gateway_routes(read, services)
    if isinstance(hops, str):
        return hops
    container_ports = {
        (p.get("name"), p.get("containerPort"))
        for c in _pod_spec(deployment).get("containers") or []
        for p in c.get("ports") or []
    }
    numbers = {number for _, number in container_ports}
    names = {name for name, _ in container_ports if name}
    problems, entries, internet = [], [], False
    for s in services:
        name = s["metadata"]["name"]
        kind = s["spec"].get("type") or "ClusterIP"
        internet = internet or kind in ("LoadBalancer", "NodePort")
        for port in s["spec"].get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            ok = target in names if isinstance(target, str) else target in numbers
            if not ok:
                problems.append(
                    f"Service {name} port {port.get('port')} targets {target}, which no "
                    "container exposes"
                )
            else:
                entries.append(f"Service {name}:{port.get('port')} → container port {target}")
        if kind == "LoadBalancer" and not _lb_address(s):
            problems.append(f"Service {name} has no load balancer address yet")
    by_name = _once(read, "services_by_name", lambda: _by_name(read, "services"))
    if by_name is None:
        by_name = _by_name(read, "services")
    for ingress, host, backend in _ingresses_for(read, services):
        internet = True
        service = by_name[backend["name"]]
        port = (backend.get("port") or {}).get("number") or (backend.get("port") or {}).get("name")
        known = {p.get("port") for p in service["spec"].get("ports") or []} | {
            p.get("name") for p in service["spec"].get("ports") or []
        }
        label = f"Ingress {ingress['metadata']['name']} ({host})"
        if port not in known:
            problems.append(f"{label} routes to port {port}, which Service {backend['name']} lacks")
        elif not _lb_address(ingress):
            problems.append(f"{label} has no load balancer address")
        else:
            tls = "https" if (ingress.get("spec") or {}).get("tls") else "plain http"
            entries.append(f"{label} → Service {backend['name']}:{port}, {tls}")
    for hop in hops:  # reachable through a route only where its Gateway accepted it
        problems += hop.problems
        if hop.entry:
            internet = internet or hop.internet
            entries.append(hop.entry)
    ready = int((deployment.get("status") or {}).get("availableReplicas") or 0)
    if services and ready == 0:
        problems.append("no pod is ready behind the Service, so every request fails")
    value = {
        "entries": entries,
        "problems": problems,
        "exposure": "internet" if internet else ("cluster" if services else "none"),
        "ready_pods": ready,
    }
    summary = "; ".join(problems + entries) or "no Service selects the pods"
    return Observation(
        value,
        read.origin("list Services, Ingresses, HTTPRoutes, Gateways; read Deployment"),
        summary,
    )


def _backend_configs(
    read: NamespaceRead, routes: list[tuple[dict, str, Any]]
) -> list[tuple[dict, str, dict | None]] | str:
    """(Ingress, BackendConfig name, BackendConfig) for each Ingress path to the service whose
    Service names a BackendConfig that GKE's Ingress controller applies."""
    if not routes:
        return []
    by_name = _once(read, "services_by_name", lambda: _by_name(read, "services"))
    if by_name is None:
        by_name = _by_name(read, "services")
    found = []
    for ingress, _, backend in routes:
        port = (backend.get("port") or {}).get("number") or (backend.get("port") or {}).get("name")
        name, config = backend_config(
            read.items("backendconfigs"), by_name[backend["name"]], port, ingress
        )
        if name and _refused_list(read, "backendconfigs"):
            return read.why["backendconfigs"]
        if name:
            found.append((ingress, name, config))
    return found


def rate_limits(read: NamespaceRead, deployment: dict) -> Observation | str:
    if read.lists.get("ingresses") is None:
        return read.why["ingresses"]
    services = _services_for(read, deployment)
    routes = _ingresses_for(read, services)
    hops = _gateway_routes(read, services)
    if not routes:
        if isinstance(hops, str):
            return hops
        if any(hop.entry for hop in hops):
            return (
                f"{', '.join(hop.label for hop in hops if hop.entry)} fronts it: the Gateway "
                "API has no standard rate-limit field, and implementations' own policies are "
                "not read"
            )
        return (
            "no Ingress routes to it, and limits set in the application, an API gateway or a "
            "service mesh are not visible through the Kubernetes API"
        )
    fronts = sorted({ingress["metadata"]["name"] for ingress, _, _ in routes})
    limits = []
    for ingress in {i["metadata"]["name"]: i for i, _, _ in routes}.values():
        annotations = ingress["metadata"].get("annotations") or {}
        for key, meaning in RATE_LIMIT_ANNOTATIONS.items():
            if key in annotations:
                limits.append(
                    f"Ingress {ingress['metadata']['name']}: {annotations[key]} {meaning} ({key})"
                )
    configs = _backend_configs(read, routes)
    if isinstance(configs, str):
        return configs
    armor = sorted(
        {
            f"Ingress {i['metadata']['name']}: Cloud Armor policy {security_policy(c)} "
            f"(BackendConfig {name})"
            for i, name, c in configs
            if security_policy(c)
        }
    )
    if armor and not limits:  # its rules live in Compute Engine, not in the cluster
        return (
            f"{'; '.join(armor)} is attached; whether it limits rates is in its rules, which the "
            "Kubernetes API does not show"
        )
    summary = (
        "; ".join(limits + armor) or f"no rate-limit annotation on Ingress {', '.join(fronts)}"
    )
    return Observation(
        {"front": fronts, "limits": limits, "cloud_armor": armor},
        read.origin("list Ingresses, BackendConfigs"),
        summary,
    )


def _ingress_checks(
    read: NamespaceRead, services: list[dict]
) -> tuple[list[str], list[str], list[str]] | str:
    """(open, guarded, opaque) entries for the Ingresses in front of these Services."""
    open_, guarded, opaque = [], [], []
    routes = _ingresses_for(read, services)
    configs = _backend_configs(read, routes)
    if isinstance(configs, str):
        return configs
    for ingress in {i["metadata"]["name"]: i for i, _, _ in routes}.values():
        name, annotations = (
            ingress["metadata"]["name"],
            ingress["metadata"].get("annotations") or {},
        )
        paths = [r for r in routes if r[0]["metadata"]["name"] == name]
        iap = [n for i, n, c in configs if i["metadata"]["name"] == name and iap_enabled(c)]
        checks = [
            k for k, ok in AUTH_ANNOTATIONS.items() if k in annotations and ok(annotations[k])
        ]
        if iap and len(iap) == len(paths):
            guarded.append(
                f"Ingress {name} is behind Identity-Aware Proxy (BackendConfig "
                f"{', '.join(sorted(set(iap)))} iap.enabled)"
            )
        elif checks:
            guarded.append(f"Ingress {name} checks callers ({', '.join(checks)})")
        elif any(k in annotations for k in OPAQUE_AUTH_ANNOTATIONS):
            opaque.append(f"Ingress {name} delegates to middlewares the API does not explain")
        else:
            open_.append(f"Ingress {name} has no authentication annotation")
    return open_, guarded, opaque


def platform_auth(read: NamespaceRead, deployment: dict) -> Observation | str:
    """Whether callers reach the pods without any credential check in front of them: Services
    of type LoadBalancer/NodePort admit anyone at layer 4; Ingresses check callers only with an
    auth annotation or Identity-Aware Proxy (GKE BackendConfig); an HTTPRoute's Gateway is not
    explained by the Gateway API; an Istio policy enforced at the pods checks every route; inside
    the cluster only NetworkPolicies narrow who may call."""
    for kind in ("ingresses", "networkpolicies"):
        if read.lists.get(kind) is None:
            return read.why[kind]
    for kind in ("authorizationpolicies", "requestauthentications"):
        if _refused_list(read, kind):
            return read.why[kind]
    services = _services_for(read, deployment)
    if not services:
        return "no Service selects its pods, so nothing routes callers to it"
    hops = _gateway_routes(read, services)
    fronts = _ingress_checks(read, services)
    if isinstance(hops, str) or isinstance(fronts, str):
        return hops if isinstance(hops, str) else str(fronts)
    open_, guarded, opaque = fronts
    internet = bool(open_ or guarded or opaque)
    for s in services:
        kind = s["spec"].get("type") or "ClusterIP"
        if kind in ("LoadBalancer", "NodePort"):
            internet = True
            open_.insert(0, f"Service {s['metadata']['name']} type {kind} (no credential check)")
    for hop in hops:
        if hop.entry:
            internet = internet or hop.internet
            opaque.append(
                f"{hop.label}: the Gateway API defines no authentication, and the "
                "implementation's own policies are not read"
            )
    mesh = mesh_auth(
        read.items("authorizationpolicies"),
        read.items("requestauthentications"),
        _pod_labels(deployment),
        lambda: _pods_of(read, deployment),
    )
    origin = read.origin(
        "list Services, Ingresses, HTTPRoutes, NetworkPolicies, BackendConfigs, Istio "
        "AuthorizationPolicies and RequestAuthentications, Pods"
    )
    exposure = "internet" if internet else "cluster"
    notes = []
    if mesh is not None:
        if mesh.guarded and mesh.enforced:  # the pods' proxy checks whatever route came in
            routes = "; ".join(open_ + opaque + guarded) or "cluster-internal callers"
            how = [*mesh.how, f"enforced by the pods' Istio proxy for every route ({routes})"]
            return Observation({"open": False, "exposure": exposure, "how": how + mesh.notes},
                               origin, "; ".join(how + mesh.notes))  # fmt: skip
        if read.lists.get("pods") is None and mesh.how:
            return read.why["pods"]
        if mesh.guarded is False and mesh.enforced:
            open_ += mesh.how
        elif mesh.how:
            notes.append(
                f"{'; '.join(mesh.how)}, but no pod of it runs an Istio proxy, so nothing "
                "enforces it"
            )
        notes += mesh.notes
    if not (open_ or guarded or opaque):
        selecting, unfenced = _policies(read, deployment)
        if selecting and not unfenced:
            guarded.append(
                f"cluster-internal; NetworkPolicy {', '.join(selecting)} names who may call"
            )
        else:
            open_.append("cluster-internal; no NetworkPolicy limits which pods may call")
    if opaque and not open_:
        return "; ".join(opaque + guarded + notes)
    value = {"open": bool(open_), "exposure": exposure, "how": open_ + guarded + opaque + notes}
    return Observation(value, origin, "; ".join(value["how"]))


def _binds(binding: dict, account: str, namespace: str) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and name == account and subject.get("namespace") == namespace:
            return True
        # https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects
        if kind == "Group" and name in (
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
        ):
            return True
    return False


def _roles(read: NamespaceRead) -> dict[tuple[str, str], dict]:
    roles = {("Role", r["metadata"]["name"]): r for r in read.items("roles")}
    return roles | {("ClusterRole", r["metadata"]["name"]): r for r in read.items("clusterroles")}


def _bindings(read: NamespaceRead) -> list[tuple[str, dict, str]]:
    bindings = [("RoleBinding", b, f"in {read.namespace}") for b in read.items("rolebindings")]
    return bindings + [
        ("ClusterRoleBinding", b, "cluster-wide") for b in read.items("clusterrolebindings")
    ]


def _bindings_index(read: NamespaceRead) -> tuple[list, dict[Any, list[int]], list[int]]:
    """The bindings, their positions by the ServiceAccount (of this namespace) they name, and
    those naming a group of all ServiceAccounts (see `_binds`), which every account gets."""
    bindings = _bindings(read)
    by_account: dict[Any, list[int]] = defaultdict(list)
    everyone: list[int] = []
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{read.namespace}")
    for position, (_, binding, _) in enumerate(bindings):
        for subject in binding.get("subjects") or []:
            kind, name = subject.get("kind"), subject.get("name")
            if kind == "ServiceAccount" and subject.get("namespace") == read.namespace:
                by_account[name].append(position)
            elif kind == "Group" and name in groups:
                everyone.append(position)
    return bindings, by_account, everyone


def _bindings_of(read: NamespaceRead, account: str) -> list[tuple[str, dict, str]]:
    """The bindings that may bind this ServiceAccount, in list order (`_binds` decides)."""
    indexed = _once(read, "bindings", lambda: _bindings_index(read))
    if indexed is None:
        return _bindings(read)
    bindings, by_account, everyone = indexed
    return [bindings[p] for p in sorted({*by_account.get(account, ()), *everyone})]


def _pods_selected(read: NamespaceRead, kind: str, labels: Any) -> list[dict]:
    """The pods (or PodMetrics) that may carry all of `labels` (the caller checks)."""
    index = _once(
        read,
        ("labels", kind),
        lambda: LabelIndex(p["metadata"].get("labels") for p in read.items(kind)),
    )
    items = read.items(kind)
    if index is None or not isinstance(labels, dict):
        return items
    return [items[i] for i in index.candidates(labels)]


def _broad_rules(rules: list[dict]) -> list[str]:
    found = []
    for rule in rules:
        verbs, resources = rule.get("verbs") or [], rule.get("resources") or []
        if "*" in verbs or "*" in resources or "*" in (rule.get("nonResourceURLs") or []):
            found.append(f"'*' in {'verbs' if '*' in verbs else 'resources'}")
        elif "secrets" in resources and {"get", "list", "watch"} & set(verbs):
            found.append("reads Secrets")
        elif {"roles", "rolebindings", "clusterroles", "clusterrolebindings"} & set(resources) and (
            {"create", "update", "patch", "bind", "escalate"} & set(verbs)
        ):
            found.append("can grant roles")
    return found


def identity_grants(read: NamespaceRead, deployment: dict) -> Observation | str:
    for kind in ("rolebindings", "clusterrolebindings", "roles", "clusterroles"):
        if read.lists.get(kind) is None:
            return read.why[kind]
    account = _pod_spec(deployment).get("serviceAccountName") or "default"
    ns = read.namespace
    roles = _once(read, "roles", lambda: _roles(read))
    if roles is None:
        roles = _roles(read)
    grants, broad = [], []
    for kind, binding, scope in _bindings_of(read, account):
        if not _binds(binding, account, ns):
            continue
        ref = binding.get("roleRef") or {}
        label = (
            f"{kind} {binding['metadata']['name']} → {ref.get('kind')} {ref.get('name')} {scope}"
        )
        grants.append(label)
        role = roles.get((ref.get("kind"), ref.get("name")))
        reasons = _broad_rules((role or {}).get("rules") or [])
        if ref.get("kind") == "ClusterRole" and ref.get("name") in BROAD_ROLES:
            reasons.insert(0, f"the built-in '{ref.get('name')}' role")
        if reasons:
            broad.append(f"{label}: {', '.join(dict.fromkeys(reasons))}")
    identity = f"system:serviceaccount:{ns}:{account}"
    value = {"identity": identity, "grants": grants, "broad": broad}
    summary = f"{identity}: " + ("; ".join(grants) or "no RoleBinding or ClusterRoleBinding")
    return Observation(
        value, read.origin("list RoleBindings, ClusterRoleBindings, Roles, ClusterRoles"), summary
    )


_SCALE = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}  # fmt: skip
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ("250m", "256Mi", "1") as a number of cores or bytes."""
    match = _QUANTITY.match(str(value or "").strip())
    if not match or match.group(2) not in ("", *_SCALE):
        return None
    return float(match.group(1)) * _SCALE.get(match.group(2), 1)


def usage(read: NamespaceRead, deployment: dict) -> Observation | str:
    if read.lists.get("podmetrics") is None:
        return read.why["podmetrics"]
    container = _main_container(deployment)
    labels = deployment["spec"]["selector"].get("matchLabels") or {}
    samples = [
        c.get("usage") or {}
        for m in _pods_selected(read, "podmetrics", labels)
        if all((m["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        for c in m.get("containers") or []
        if c.get("name") == container.get("name")
    ]
    if not samples:
        return "metrics-server reported no usage for its pods (none running, or just started)"
    cpu = [quantity(s.get("cpu")) or 0.0 for s in samples]
    memory = [quantity(s.get("memory")) or 0.0 for s in samples]
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    value = {
        "pods": len(samples),
        "cpu": max(cpu),
        "memory": max(memory),
        "cpu_request": quantity(requests.get("cpu")),
        "memory_request": quantity(requests.get("memory")),
        "cpu_limit": quantity(limits.get("cpu")),
        "memory_limit": quantity(limits.get("memory")),
        "window": "30s sample",
    }
    summary = (
        f"busiest of {len(samples)} pod(s): cpu {max(cpu) * 1000:.0f}m, memory "
        f"{max(memory) / 1024**2:.0f}Mi (requests {requests.get('cpu', 'unset')}/"
        f"{requests.get('memory', 'unset')}, limits {limits.get('cpu', 'unset')}/"
        f"{limits.get('memory', 'unset')})"
    )
    return Observation(value, read.origin("list PodMetrics (metrics.k8s.io)"), summary)


def stateful(read: NamespaceRead, deployment: dict) -> Observation:
    why = [
        f"mounts PersistentVolumeClaim {v['persistentVolumeClaim'].get('claimName')}"
        for v in _pod_spec(deployment).get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]
    for container in _pod_spec(deployment).get("containers") or []:
        for env in container.get("env") or []:
            if DATASTORE_ENV.match(env.get("name", "")):
                why.append(f"datastore setting {env['name']}")
    summary = "; ".join(why) or "no PersistentVolumeClaim and no datastore setting"
    return Observation(
        {"stateful": bool(why), "why": why},
        read.origin("read Deployment spec.template (volumes, env)"),
        summary,
    )


def encryption(read: NamespaceRead, deployment: dict) -> Observation | str:
    """Encryption at rest of the claims the pods mount, from their StorageClasses."""
    claims = [
        v["persistentVolumeClaim"].get("claimName") or ""
        for v in _pod_spec(deployment).get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]
    if not claims:
        return kubernetes_storage.NO_CLAIM_REASON
    for kind in ("persistentvolumeclaims", "storageclasses"):
        if read.lists.get(kind) is None:
            return read.why[kind]
    found = {c["metadata"]["name"]: c for c in read.lists["persistentvolumeclaims"]}
    origin = read.origin("list PersistentVolumeClaims, StorageClasses (storage.k8s.io/v1)")
    return kubernetes_storage.encryption(claims, found, read.lists["storageclasses"], origin)


def structured_logs(read: NamespaceRead, deployment: dict) -> Observation | str:
    if read.lists.get("pods") is None:
        return read.why["pods"]
    labels = deployment["spec"]["selector"].get("matchLabels") or {}
    running = [
        p
        for p in _pods_selected(read, "pods", labels)
        if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        and (p.get("status") or {}).get("phase") == "Running"
    ]
    if not running:
        return "no pod of the Deployment is running, so no log was read"
    pod = running[0]["metadata"]["name"]
    container = _main_container(deployment).get("name", "")
    try:
        lines = _tail(read, pod, container)
    except Exception as exc:
        return _why(exc, f"the log of pod {pod}").replace("listing ", "reading ")
    origin = read.origin(f"read log of pod {pod} (last {LOG_LINES} lines)")
    if not lines:
        return Observation(None, origin, f"pod {pod} wrote no log lines yet")
    return log_lines.judged(lines, origin, f"recent lines of pod {pod}")


FACTS: dict[str, Callable[[NamespaceRead, dict], Observation | str]] = {
    SHUTDOWN: shutdown,
    METRICS: metrics,
    NETWORK: network,
    REACHABILITY: reachability,
    RATE_LIMITS: rate_limits,
    PLATFORM_AUTH: platform_auth,
    IDENTITY_GRANTS: identity_grants,
    USAGE: usage,
    STATEFUL: stateful,
    ENCRYPTION: encryption,
    STRUCTURED_LOGS: structured_logs,
}
# Nothing in the Kubernetes API counts requests: the resource metrics API (metrics.k8s.io) reports
# CPU and memory only. https://kubernetes.io/docs/tasks/debug/debug-cluster/resource-metrics-pipeline/
TRAFFIC_REASON = (
    "the Kubernetes API counts no requests (metrics.k8s.io reports CPU and memory only); request "
    "counts live in an ingress controller's or service mesh's metrics, which are not read"
)
FIXED_REASONS = {
    AUDIT_LOGS: AUDIT_POLICY_REASON,
    TRAFFIC: TRAFFIC_REASON,
}
# With a Prometheus URL on the account, requests are counted from the two most common sources:
# Istio's standard istio_requests_total (https://istio.io/latest/docs/reference/config/metrics/)
# by destination workload, and ingress-nginx's nginx_ingress_controller_requests
# (https://kubernetes.github.io/ingress-nginx/user-guide/monitoring/) by backend Service.
PROMETHEUS_QUERIES = {
    "istio_requests_total": (
        'sum by (destination_workload) (increase(istio_requests_total{reporter="destination",'
        'destination_workload_namespace="{ns}"}[7d]))',
        "destination_workload",
    ),
    "nginx_ingress_controller_requests": (
        'sum by (service) (increase(nginx_ingress_controller_requests{namespace="{ns}"}[7d]))',
        "service",
    ),
}
PROMETHEUS_TIMEOUT_S = 15
PROMETHEUS_MAX_BYTES = 8 * 2**20  # one namespace's series; far more is not Prometheus


def prometheus_counts(base: str, namespace: str, at: datetime) -> dict[str, dict[str, float]]:
    """Per metric: {workload or Service name: requests in 7 days}, one instant query each
    (GET /api/v1/query, https://prometheus.io/docs/prometheus/latest/querying/api/), through
    the egress policy (the URL is operator-set)."""
    import httpx

    from console.egress import EgressTransport

    found: dict[str, dict[str, float]] = {}
    with httpx.Client(transport=EgressTransport(), timeout=PROMETHEUS_TIMEOUT_S) as client:
        for metric, (template, label) in PROMETHEUS_QUERIES.items():
            query = template.replace("{ns}", namespace)
            url = f"{base.rstrip('/')}/api/v1/query"
            params = {"query": query, "time": at.timestamp()}
            with client.stream("GET", url, params=params) as answer:
                raw = _capped_body(answer)
            try:
                body = json.loads(raw)
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            if answer.status_code != 200 or body.get("status") != "success":
                # The operator-set endpoint's own bytes are not shown (viewers read the reason).
                kind = answer.headers.get("content-type", "")
                detail = body.get("error") or describe_body(raw, kind)
                raise RuntimeError(
                    f"HTTP {answer.status_code} {body.get('errorType', '')}: {detail}"
                )
            found[metric] = {
                r["metric"].get(label, ""): float(r["value"][1])
                for r in body["data"].get("result") or []
            }
    return found


def _capped_body(answer: Any) -> bytes:
    """The answer's body, refused past PROMETHEUS_MAX_BYTES (the URL is operator-set)."""
    raw = bytearray()
    for chunk in answer.iter_bytes():
        raw += chunk
        if len(raw) > PROMETHEUS_MAX_BYTES:
            raise RuntimeError(f"the answer exceeds {PROMETHEUS_MAX_BYTES // 2**20} MiB")
    return bytes(raw)


def traffic(
    read: NamespaceRead, deployment: dict, counts: dict | str, base: str
) -> Observation | str:
    if isinstance(counts, str):
        return counts
    name = deployment["metadata"]["name"]
    origin = Provenance(
        f"Prometheus HTTP API /api/v1/query at {base} (increase over 7 days)", read.read_at
    )
    if name in counts.get("istio_requests_total", {}):
        value = int(counts["istio_requests_total"][name])
        return Observation(
            value, origin, f"istio_requests_total: {value} requests to {name} in 7 days"
        )
    services = [s["metadata"]["name"] for s in _services_for(read, deployment)]
    seen = [s for s in services if s in counts.get("nginx_ingress_controller_requests", {})]
    if seen:
        value = int(sum(counts["nginx_ingress_controller_requests"][s] for s in seen))
        return Observation(
            value,
            origin,
            f"nginx_ingress_controller_requests: {value} requests to Service "
            f"{', '.join(seen)} in 7 days",
        )
    return (
        f"Prometheus at {base} has no istio_requests_total series for workload {name} and no "
        "nginx_ingress_controller_requests series for "
        + (f"Service {', '.join(services)}" if services else "it (no Service selects its pods)")
        + ": not in the mesh, not behind ingress-nginx, or never called"
    )


# --- the readers ------------------------------------------------------------------------------


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    """Every fact for every Kubernetes service in scope: one set of lists per namespace."""
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for service in context.services:
        if service.provider == "kubernetes" and service.account_id and service.resource:
            namespace = service.account.namespace or "default"
            groups[(service.account_id, namespace)].append(service)
    answers: dict[int, dict[str, Observation | str]] = {}
    for (_, namespace), services in groups.items():
        account = services[0].account
        where = f"{account.name}, namespace {namespace}"
        try:
            api_client = kubernetes_api_client(account.to_ref())
        except Exception as exc:
            reason = f"connecting to the cluster failed ({type(exc).__name__}: {exc})"
            for s in services:
                answers[s.pk] = dict.fromkeys([*FACTS, *FIXED_REASONS], reason)
            continue
        read = read_namespace(
            api_client, namespace, where, context.read_at, _described(context, services)
        )
        by_name = {d["metadata"]["name"]: d for d in read.items("deployments")}
        base = getattr(account, "prometheus_url", "")
        counts: dict | str = TRAFFIC_REASON
        if base:
            try:
                counts = prometheus_counts(base, namespace, context.read_at)
            except Exception as exc:
                counts = f"querying Prometheus at {base} failed ({type(exc).__name__}: {exc})"
        for service in services:
            deployment = by_name.get(service.resource)
            answers[service.pk] = _facts(read, deployment, service.resource)
            if base and deployment is not None:
                answers[service.pk][TRAFFIC] = traffic(read, deployment, counts, base)
    return answers


def _described(context: ReadContext, services: list[Any]) -> list[dict] | None:
    """The Deployments of these services as this run already read them (the adapter lists
    the namespace's Deployments to describe them), or None when any one was not read live in
    this run (a stored description may be older than the run): then they are listed here."""
    found = []
    for service in services:
        cloud = context.clouds.get(service.pk)
        snapshot = cloud.snapshot if cloud is not None else None
        at = cloud.origin.observed_at if cloud is not None and cloud.origin is not None else None
        raw = snapshot.raw if snapshot is not None else None
        if at is None or at < context.read_at or not isinstance(raw, dict) or not raw.get("spec"):
            return None
        if snapshot.provider != "kubernetes" or snapshot.resource != service.resource:
            return None
        found.append(raw)
    return found


def _facts(read: NamespaceRead, deployment: dict | None, name: str) -> dict[str, Any]:
    facts: dict[str, Observation | str] = dict(FIXED_REASONS)
    if deployment is None:
        reason = read.why.get("deployments") or f"no Deployment {name} in {read.where}"
        return facts | dict.fromkeys(FACTS, reason)
    for key, fact in FACTS.items():
        try:
            facts[key] = fact(read, deployment)
        except Exception as exc:  # an object shaped unlike the reference: that fact only
            facts[key] = f"reading it failed ({type(exc).__name__}: {exc})"
    return facts


OncePerRun(read_all).register((*FACTS, *FIXED_REASONS))
