"""GKE Ingress features set through a BackendConfig (cloud.google.com/v1), for the audit.

A Service names its BackendConfig in the `cloud.google.com/backend-config` annotation (or the
older `beta.cloud.google.com/backend-config`), a JSON object with a `default` and/or per-port
(`ports`, keyed by the Service port's number or name) BackendConfig name; GKE's own Ingress
controller (class `gce` or `gce-internal`, the default on GKE) applies it to the load balancer's
backend service for that port. `spec.iap.enabled: true` puts Identity-Aware Proxy in front (only
signed-in, authorised Google identities pass); `spec.securityPolicy.name` attaches a Cloud Armor
policy, whose rules live in Compute Engine, not in the cluster.
https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration#associating_backendconfig_with_your_ingress
https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-features#iap
https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-features#cloud_armor
"""

from __future__ import annotations

import json
from typing import Any

ANNOTATIONS = ("cloud.google.com/backend-config", "beta.cloud.google.com/backend-config")
GKE_CLASSES = {"gce", "gce-internal"}
CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def gke_ingress(ingress: dict) -> bool:
    """Whether GKE's controller serves this Ingress (its class, or none given)."""
    annotations = ingress["metadata"].get("annotations") or {}
    chosen = annotations.get(CLASS_ANNOTATION) or (ingress.get("spec") or {}).get(
        "ingressClassName"
    )
    return not chosen or chosen in GKE_CLASSES


def backend_config_name(service: dict, port: Any) -> str:
    """The BackendConfig the Service names for this port (number or name), or ""."""
    annotations = service["metadata"].get("annotations") or {}
    raw = next((annotations[k] for k in ANNOTATIONS if annotations.get(k)), "")
    try:
        chosen = json.loads(raw) if raw else {}
    except ValueError:
        return ""
    if not isinstance(chosen, dict):
        return ""
    keys = {str(port)}
    for entry in service["spec"].get("ports") or []:
        if port in (entry.get("port"), entry.get("name")):
            keys |= {str(entry.get("port")), str(entry.get("name"))}
    ports = chosen.get("ports") if isinstance(chosen.get("ports"), dict) else {}
    found = next((ports[k] for k in keys if k in ports), chosen.get("default") or "")
    return found if isinstance(found, str) else ""


def backend_config(
    configs: list[dict], service: dict, port: Any, ingress: dict
) -> tuple[str, dict | None]:
    """(name, BackendConfig) applying to the Ingress's backend at this Service port; ("", None)
    when none applies (no annotation, or not GKE's Ingress); (name, None) when it names one that
    does not exist."""
    if not gke_ingress(ingress):
        return "", None
    name = backend_config_name(service, port)
    if not name:
        return "", None
    return name, next((c for c in configs if c["metadata"]["name"] == name), None)


def iap_enabled(config: dict | None) -> bool:
    return bool(((config or {}).get("spec") or {}).get("iap", {}).get("enabled"))


def security_policy(config: dict | None) -> str:
    return str((((config or {}).get("spec") or {}).get("securityPolicy") or {}).get("name") or "")
