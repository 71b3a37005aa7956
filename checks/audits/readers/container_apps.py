"""Audit evidence for Container Apps, from the app's description (Container Apps API
containerApps.get, already read for the run): its ingress (external or environment-internal,
`allowInsecure`) and its `ipSecurityRestrictions`.

API reference: https://learn.microsoft.com/en-us/rest/api/containerapps/container-apps/get
(Ingress, IpSecurityRestrictionRule). The SDK's `as_dict()` spells fields in snake case.
"""

from __future__ import annotations

from typing import Any

from checks.audits.evidence import NETWORK, REACHABILITY, SHUTDOWN, Observation, Provenance
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun

ANYWHERE = {"0.0.0.0/0", "::/0", "*", "any"}
# Template.terminationGracePeriodSeconds: "If this value is nil, the default grace period will be
# used instead ... Defaults to 30 seconds." (ContainerApp Template in the API reference above);
# https://learn.microsoft.com/en-us/azure/container-apps/application-lifecycle-management
# (shutdown: SIGTERM, then SIGKILL after the grace period). Container Apps has no preStop hook.
DEFAULT_GRACE_S = 30


def _ingress(raw: dict) -> dict | None:
    configuration = raw.get("configuration") or (raw.get("properties") or {}).get("configuration")
    return (configuration or {}).get("ingress")


def _field(obj: dict, snake: str, camel: str) -> Any:
    return obj.get(snake, obj.get(camel))


def network(raw: dict, origin: Provenance) -> Observation:
    ingress = _ingress(raw)
    if ingress is None:
        value = {"kind": "IP security restriction", "exposure": "none", "entries": [],
                 "policies": ["no ingress"], "open_policies": []}  # fmt: skip
        return Observation(value, origin, "ingress disabled: nothing can connect")
    external = bool(ingress.get("external"))
    rules = _field(ingress, "ip_security_restrictions", "ipSecurityRestrictions") or []
    allowed = [r for r in rules if r.get("action") == "Allow"]
    policies = [
        f"{r.get('name')} ({r.get('action')} {_field(r, 'ip_address_range', 'ipAddressRange')})"
        for r in rules
    ]
    open_ = [
        f"{r.get('name')} ({_field(r, 'ip_address_range', 'ipAddressRange')})"
        for r in allowed
        if _field(r, "ip_address_range", "ipAddressRange") in ANYWHERE
    ]
    if not external:
        policies.insert(0, "internal ingress (the app's environment and VNet only)")
    entry = f"{'external' if external else 'internal'} ingress {ingress.get('fqdn', '')}"
    insecure = _field(ingress, "allow_insecure", "allowInsecure")
    # Allow rules deny every other address, so they fence the external entry itself.
    fenced = bool(allowed) and not open_
    value = {
        "kind": "IP security restriction",
        "exposure": "internet" if external and not fenced else "restricted",
        "entries": [entry + (", plain HTTP allowed" if insecure else "")],
        "policies": policies,
        "open_policies": open_,
    }
    summary = f"{entry}; " + ("; ".join(policies) or "no ipSecurityRestrictions")
    return Observation(value, origin, summary)


def shutdown(raw: dict, origin: Provenance) -> Observation:
    template = raw.get("template") or (raw.get("properties") or {}).get("template") or {}
    grace = _field(template, "termination_grace_period_seconds", "terminationGracePeriodSeconds")
    grace_s = DEFAULT_GRACE_S if grace is None else int(grace)
    default = " (the default)" if grace is None else ""
    summary = (
        f"template.terminationGracePeriodSeconds {grace_s}{default}; Container Apps offers no "
        "preStop hook and documents no drain before SIGTERM"
    )
    value = {"grace_s": grace_s, "drain": "", "drain_s": 0, "drains_first": False}
    return Observation(value, origin, summary)


def reachability(raw: dict, ready: int | None, origin: Provenance) -> Observation:
    ingress = _ingress(raw)
    if ingress is None:
        value = {"entries": [], "problems": [], "exposure": "none", "ready_pods": ready}
        return Observation(value, origin, "ingress disabled")
    external = bool(ingress.get("external"))
    port = _field(ingress, "target_port", "targetPort")
    problems = [] if port else ["the ingress names no target port"]
    entry = (
        f"{'external' if external else 'internal'} ingress {ingress.get('fqdn', '')} → port {port}"
    )
    value = {
        "entries": [entry],
        "problems": problems,
        "exposure": "internet" if external else "cluster",
        "ready_pods": ready,
    }
    return Observation(value, origin, "; ".join(problems + [entry]))


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    answers: dict[int, dict[str, Observation | str]] = {}
    for service in context.services:
        cloud = context.clouds.get(service.pk)
        if service.provider != "azure" or cloud is None or cloud.snapshot is None:
            continue
        raw = cloud.snapshot.raw or {}
        origin = cloud.origin or Provenance("Container Apps API containerApps.get", context.read_at)
        answers[service.pk] = {
            NETWORK: network(raw, origin),
            REACHABILITY: reachability(raw, cloud.snapshot.ready_instances, origin),
            SHUTDOWN: shutdown(raw, origin),
        }
    return answers


OncePerRun(read_all).register((NETWORK, REACHABILITY, SHUTDOWN))
