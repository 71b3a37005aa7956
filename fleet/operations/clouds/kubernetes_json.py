"""Kubernetes list answers read as the API's own JSON, and a ServiceSnapshot built from it.

Describing a fleet lists every Deployment, HPA and Service of a namespace; deserialising those
answers into the client's typed models (V1Deployment, ...) and serialising them back for the
snapshot's `raw` cost more than the rest of the read. So the lists are read with
`_preload_content=False` (the client's documented way to skip model deserialisation; non-2xx
answers still raise ApiException) and `json.loads` of the body, and the snapshot is built from
the dicts, field for field what the typed path built. `raw` is the Deployment as the API served
it. Field names: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def list_pages(call: Callable[..., Any], *args: Any, limit: int, **kw: Any) -> list[dict]:
    """Every item of a list call as JSON, read in chunks of `limit` (`limit` + `continue`,
    https://kubernetes.io/docs/reference/using-api/api-concepts/#retrieving-large-results-sets-in-chunks).
    An expired continue token is the API's 410 Gone, raised like any other refusal."""
    items: list[dict] = []
    token = None
    while True:
        answer = call(*args, limit=limit, _continue=token, _preload_content=False, **kw)
        body = json.loads(answer.data or b"{}")
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue")
        if not token:
            return items


def read_json(call: Callable[..., Any], *args: Any, **kw: Any) -> dict:
    """One object (a read call) as the API's JSON."""
    return json.loads(call(*args, _preload_content=False, **kw).data or b"{}")


def hpas_by_target(items: list[dict]) -> dict[str, dict]:
    """HPAs that target a Deployment, by Deployment name."""
    found = {}
    for hpa in items:
        target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if target.get("kind") == "Deployment":
            found[target.get("name")] = hpa
    return found


def snapshot(
    deployment: dict, hpas: dict[str, dict], services: list[dict], url: str, region: str
) -> ServiceSnapshot:
    """The ServiceSnapshot of one Deployment with its HPA and the Service that exposes it."""
    meta, spec = deployment["metadata"], deployment["spec"]
    template = spec["template"]
    containers = template["spec"]["containers"]
    chosen = container_name(template)
    container = next(c for c in containers if c.get("name") == chosen)
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    hpa = (hpas.get(meta["name"]) or {}).get("spec")
    replicas = spec.get("replicas")
    replicas = 1 if replicas is None else replicas
    exposed = service_for(template, services)
    status = deployment.get("status")
    created = meta.get("creationTimestamp")
    return ServiceSnapshot(
        provider="kubernetes",
        resource=meta["name"],
        url=url or service_url(exposed, meta.get("namespace")),
        image=container.get("image") or "",
        revision=(meta.get("annotations") or {}).get(REVISION_ANNOTATION, ""),
        region=region,
        scaling=ScalingSettings(
            min_instances=(hpa.get("minReplicas") or 1) if hpa is not None else replicas,
            max_instances=hpa.get("maxReplicas") if hpa is not None else replicas,
            concurrency=None,
            cpu=limits.get("cpu"),
            memory=limits.get("memory"),
            cpu_request=requests.get("cpu"),
            memory_request=requests.get("memory"),
        ),
        ready_instances=(status.get("availableReplicas") or 0) if status is not None else None,
        ingress=_ingress(exposed),
        allows_unauthenticated=None,
        service_identity=template["spec"].get("serviceAccountName") or "default",
        env=_env(container),
        labels=dict(meta.get("labels") or {}),
        raw=deployment,
        created=_timestamp(created) if created else "",
    )


def container_name(template: dict) -> str:
    """The container a description is about: the pod template's
    kubectl.kubernetes.io/default-container when it names one, else the first."""
    names = [c.get("name") for c in template["spec"]["containers"]]
    default = ((template.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    return default if default in names else names[0]


def service_for(template: dict, services: list[dict]) -> dict | None:
    """The first Service whose (non-empty) selector picks the pod template's labels."""
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    for service in services:
        selector = (service.get("spec") or {}).get("selector") or {}
        if selector and all(pod_labels.get(k) == v for k, v in selector.items()):
            return service
    return None


def service_url(service: dict | None, namespace: str | None) -> str:
    if service is None:
        return ""
    spec = service.get("spec") or {}
    ports = spec.get("ports")
    port = ports[0].get("port") if ports else 80
    suffix = "" if port == 80 else f":{port}"
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        return f"http://{ingress[0].get('ip') or ingress[0].get('hostname')}{suffix}"
    return f"http://{service['metadata']['name']}.{namespace}.svc.cluster.local{suffix}"


def _ingress(service: dict | None) -> str:
    if service is None:
        return "none"
    kind = (service.get("spec") or {}).get("type")
    return "all" if kind in ("LoadBalancer", "NodePort") else "internal"


def _env(container: dict) -> list[EnvVar]:
    env: list[EnvVar] = []
    for var in container.get("env") or []:
        source = var.get("valueFrom")
        if source is not None and source.get("secretKeyRef") is not None:
            env.append(EnvVar(name=var["name"], is_secret_ref=True))
        elif source is not None:
            env.append(EnvVar(name=var["name"], is_secret_ref=False, value=None))
        else:
            env.append(EnvVar(name=var["name"], is_secret_ref=False, value=var.get("value") or ""))
    for source in container.get("envFrom") or []:
        secret = source.get("secretRef")
        if secret is not None:
            env.append(
                EnvVar(
                    name=f"{source.get('prefix') or ''}* (Secret {secret.get('name')})",
                    is_secret_ref=True,
                )
            )
    return env


def _timestamp(value: str) -> str:
    """An RFC 3339 time as the typed client rendered it (`datetime.isoformat()`: +00:00)."""
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        from dateutil.parser import isoparse

        return isoparse(value).isoformat()
