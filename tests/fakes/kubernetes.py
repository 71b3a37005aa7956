"""A strict local fake of the Kubernetes API for Deployments, HPAs and Services.

Serves apps/v1 Deployments (GET, list with labelSelector, PATCH in strategic-merge, merge and
JSON-patch flavours), autoscaling/v2 HorizontalPodAutoscalers and v1 Services. A template change
bumps the generation and the rollout then progresses over the next few GETs, the way the
Deployment controller would. Errors are `Status` objects; a bearer token is required.
Run standalone: `python -m tests.fakes.kubernetes --port 8182` (namespace "mcp", seeded).
"""

from __future__ import annotations

import argparse
import re
import uuid
from typing import Any

from tests.fakes.patching import PatchError, json_patch, merge_patch, strategic_merge_patch
from tests.fakes.server import FakeServer, RecordedRequest, Reply

_ROUTES = [
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments(?:/([^/]+))?$"), "deployments"),
    (
        re.compile(
            r"^/apis/autoscaling/v2/namespaces/([^/]+)/horizontalpodautoscalers(?:/([^/]+))?$"
        ),
        "horizontalpodautoscalers",
    ),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/services(?:/([^/]+))?$"), "services"),
]
_GROUPS = {"deployments": "apps", "horizontalpodautoscalers": "autoscaling", "services": ""}
_KINDS = {
    "deployments": ("apps/v1", "Deployment"),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "services": ("v1", "Service"),
}
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
    409: "Conflict",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def quantity(value: str) -> float:
    """A Kubernetes quantity as a number (cores or bytes), for comparisons."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(value)
    number = float(str(value)[: len(str(value)) - len(match.group(2) or "")])
    scale = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024**2,
             "Gi": 1024**3, "Ti": 1024**4}  # fmt: skip
    return number * scale.get(match.group(2) or "", 1)


class FakeKubernetes(FakeServer):
    """In-memory kube-apiserver subset with a pretend Deployment and HPA controller."""

    def __init__(self, *, port: int = 0, token: str | None = None, rollout_gets: int = 3) -> None:
        super().__init__(port=port)
        self.token = token  # None: any bearer token is accepted, but one must be sent
        self.rollout_gets = rollout_gets  # GETs a rollout takes; 0 = it never completes
        self.user = "system:serviceaccount:fleet:console"
        self.objects: dict[str, dict[tuple[str, str], dict]] = {k: {} for k in _KINDS}
        self._rollouts: dict[tuple[str, str], int] = {}
        self._resource_version = 1000
        self.failing_rollouts: set[tuple[str, str]] = set()

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
        service_account: str = "mcp-weather",
        hpa: tuple[int, int] | None = None,
        service_type: str | None = "ClusterIP",
        port: int = 8080,
    ) -> dict:
        """A fully rolled-out Deployment, optionally with an HPA and a Service in front."""
        app_labels = {"app": name}
        env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
        for key, (secret, secret_key) in (secret_env or {}).items():
            env_list.append(
                {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}}
            )
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
                                "resources": {
                                    "limits": {"cpu": cpu, "memory": memory},
                                    "requests": {"cpu": cpu, "memory": memory},
                                },
                            }
                        ],
                    },
                },
                "strategy": {"type": "RollingUpdate"},
                "progressDeadlineSeconds": 600,
            },
        }
        deployment["metadata"]["annotations"] = {REVISION_ANNOTATION: "1"}
        deployment["status"] = self._settled_status(deployment)
        self.objects["deployments"][(namespace, name)] = deployment
        if hpa is not None:
            self.objects["horizontalpodautoscalers"][(namespace, name)] = {
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
            self.objects["services"][(namespace, name)] = service
        return deployment

    def _metadata(self, name: str, namespace: str, labels: dict[str, str]) -> dict:
        self._resource_version += 1
        return {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "resourceVersion": str(self._resource_version),
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": labels,
        }

    @staticmethod
    def _settled_status(deployment: dict) -> dict:
        replicas = deployment["spec"]["replicas"]
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
                    "message": f'ReplicaSet "{deployment["metadata"]["name"]}" has '
                    "successfully progressed.",
                },
            ],
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
        if not name:
            if request.method != "GET":
                return self.error(405, f"{request.method} is not supported on a list", request)
            return self._list(request, kind, namespace)
        key = (namespace, name)
        obj = self.objects[kind].get(key)
        if obj is None or not _DNS_SUBDOMAIN.match(name):
            resource = f"{kind}.{_GROUPS[kind]}" if _GROUPS[kind] else kind
            return self.error(404, f'{resource} "{name}" not found', request)
        if request.method == "GET":
            if kind == "deployments":
                self._progress_rollout(key)
            return Reply(200, self.objects[kind][key])
        if request.method == "PATCH":
            return self._patch(request, kind, key)
        return self.error(405, f"method {request.method} not allowed", request)

    def _list(self, request: RecordedRequest, kind: str, namespace: str) -> Reply:
        selector = _parse_selector(request.query.get("labelSelector", ""))
        if selector is None:
            return self.error(400, "unable to parse requirement: invalid label selector", request)
        items = [
            obj
            for (ns, _), obj in sorted(self.objects[kind].items())
            if ns == namespace and _selects(selector, obj["metadata"].get("labels") or {})
        ]
        api_version, kind_name = _KINDS[kind]
        return Reply(
            200,
            {
                "apiVersion": api_version,
                "kind": f"{kind_name}List",
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": items,
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
        updated["status"] = current.get("status", {})
        problem = _validate(kind, key[1], current, updated)
        if problem:
            api_version, kind_name = _KINDS[kind]
            return self.error(
                422,
                f'{kind_name}.{api_version.split("/")[0]} "{key[1]}" is invalid: {problem}',
                request,
            )
        self._resource_version += 1
        updated["metadata"]["resourceVersion"] = str(self._resource_version)
        if updated["spec"] != current["spec"]:
            updated["metadata"]["generation"] = current["metadata"]["generation"] + 1
        self.objects[kind][key] = updated
        if kind == "deployments":
            self._start_rollout(key, current, updated)
        if kind == "horizontalpodautoscalers":
            self._apply_hpa(key, updated)
        return Reply(200, updated)

    # -- pretend controllers -----------------------------------------------------------------
    def _start_rollout(self, key: tuple[str, str], before: dict, after: dict) -> None:
        if after["spec"]["template"] != before["spec"]["template"]:
            annotations = after["metadata"].setdefault("annotations", {})
            annotations[REVISION_ANNOTATION] = str(
                int(annotations.get(REVISION_ANNOTATION, "1")) + 1
            )
            self._rollouts[key] = 0
            after["status"] = {**after["status"], "updatedReplicas": 0}
        elif after["spec"]["replicas"] != before["spec"]["replicas"]:
            after["status"] = self._settled_status(after)

    def _progress_rollout(self, key: tuple[str, str]) -> None:
        if key not in self._rollouts:
            return
        deployment = self.objects["deployments"][key]
        step = self._rollouts[key] = self._rollouts[key] + 1
        replicas = deployment["spec"]["replicas"]
        status = deployment["status"]
        status["observedGeneration"] = deployment["metadata"]["generation"]
        if key in self.failing_rollouts:
            status["conditions"] = [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": f'ReplicaSet "{key[1]}" has timed out progressing.',
                },
            ]
            status["unavailableReplicas"] = 1
            return
        if self.rollout_gets and step >= self.rollout_gets:
            deployment["status"] = self._settled_status(deployment)
            del self._rollouts[key]
            return
        updated = min(replicas, step)
        status.update(
            replicas=replicas + 1,
            updatedReplicas=updated,
            availableReplicas=replicas,
            unavailableReplicas=1,
        )
        status["conditions"] = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{key[1]}" is progressing.',
            },
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
            deployment["status"] = self._settled_status(deployment)
        hpa["status"] = {"currentReplicas": wanted, "desiredReplicas": wanted}


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
