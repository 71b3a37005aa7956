"""Routes to a service through the Gateway API (gateway.networking.k8s.io/v1), for the audit.

An HTTPRoute whose `backendRefs` name one of the service's Services carries traffic to it only
through the parents that accepted it: the Gateway's controller writes, per parent, a
RouteParentStatus whose `Accepted` and `ResolvedRefs` conditions say whether the route is
attached and its backends resolved; the Gateway itself says where it listens
(`status.addresses`) and whether it is `Programmed`. Everything here is read from those objects'
status, as the controller wrote it, never guessed from the spec alone.
Spec: https://gateway-api.sigs.k8s.io/reference/spec/ (HTTPRoute, RouteParentStatus, Gateway,
GatewayStatus, ListenerStatus).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

GROUP = "gateway.networking.k8s.io"
# Addresses only a private network reaches (RFC 1918, RFC 6598 shared, loopback, link-local,
# IPv6 unique-local); any other address is treated as reachable from the internet.
PRIVATE = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
              "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128")
]  # fmt: skip


@dataclass
class GatewayRoute:
    """One HTTPRoute → Service hop through one parent Gateway."""

    label: str  # "HTTPRoute r (hosts) via Gateway ns/g"
    service: str
    port: Any
    problems: list[str] = field(default_factory=list)
    unread: str = ""  # the parent Gateway could not be read: why
    internet: bool = False
    entry: str = ""  # how it is reached, when it is


def _true(conditions: list[dict], kind: str) -> dict | None:
    """The condition of that type if it is not "True" (absent counts as not true), else None."""
    found = next((c for c in conditions or [] if c.get("type") == kind), None)
    if found is not None and found.get("status") == "True":
        return None
    return found or {"reason": "no such condition yet"}


def _said(condition: dict) -> str:
    reason, message = condition.get("reason") or "", condition.get("message") or ""
    return ": ".join(p for p in (reason, message) if p)


def _public(addresses: list[dict]) -> bool:
    """An address outside private ranges (or a host name) is reachable from the internet."""
    for address in addresses:
        value = address.get("value") or ""
        if (address.get("type") or "IPAddress") != "IPAddress":
            return True  # a DNS name of a load balancer: public unless proven otherwise
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            continue
        if not any(ip in network for network in PRIVATE):
            return True
    return False


def backend_index(routes: list[dict], namespace: str) -> dict[str, list[tuple[dict, Any]]]:
    """Service name → [(HTTPRoute, port)] for every backendRef to a Service in `namespace`
    (BackendObjectReference: group "" and kind Service by default, namespace the route's),
    built once per namespace read so each service looks its routes up instead of scanning."""
    index: dict[str, list[tuple[dict, Any]]] = {}
    for route in routes:
        for rule in (route.get("spec") or {}).get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if (ref.get("group") or "") != "" or (ref.get("kind") or "Service") != "Service":
                    continue
                if (ref.get("namespace") or namespace) == namespace and ref.get("name"):
                    index.setdefault(ref["name"], []).append((route, ref.get("port")))
    return index


def _parent_status(route: dict, parent: dict, namespace: str) -> dict | None:
    """The RouteParentStatus the controller wrote for this parentRef, if any."""
    want = (parent.get("name"), parent.get("namespace") or namespace, parent.get("sectionName"))
    for status in (route.get("status") or {}).get("parents") or []:
        ref = status.get("parentRef") or {}
        if (ref.get("name"), ref.get("namespace") or namespace, ref.get("sectionName")) == want:
            return status
    return None


def gateway_parent_namespaces(routes: list[dict], namespace: str) -> set[str]:
    """Namespaces of the Gateways these routes attach to (other than their own)."""
    found = set()
    for route in routes:
        for parent in (route.get("spec") or {}).get("parentRefs") or []:
            if (parent.get("group") or GROUP) == GROUP and (parent.get("kind") or "Gateway") == (
                "Gateway"
            ):
                found.add(parent.get("namespace") or namespace)
    return found - {namespace}


def routes_to(
    index: dict[str, list[tuple[dict, Any]]],
    gateways: dict[tuple[str, str], dict],
    unread: dict[str, str],
    namespace: str,
    services: list[dict],
) -> list[GatewayRoute]:
    """Every (route, parent Gateway) carrying traffic to one of these Services, with what stops
    it. `index` is `backend_index`'s; `gateways` is keyed by (namespace, name); `unread` maps a
    namespace whose Gateways could not be listed to why."""
    found = []
    for service in services:
        for route, port in index.get(service["metadata"]["name"], []):
            name = route["metadata"]["name"]
            hosts = ", ".join((route.get("spec") or {}).get("hostnames") or []) or "any host"
            for parent in (route.get("spec") or {}).get("parentRefs") or []:
                if (parent.get("group") or GROUP) != GROUP or (
                    parent.get("kind") or "Gateway"
                ) != "Gateway":
                    continue  # a Service parent is mesh (east-west) routing, not an entry
                gw_ns = parent.get("namespace") or namespace
                gw = parent.get("name") if gw_ns == namespace else f"{gw_ns}/{parent.get('name')}"
                hop = GatewayRoute(
                    f"HTTPRoute {name} ({hosts}) via Gateway {gw}",
                    service["metadata"]["name"],
                    port,
                )
                _judge(hop, route, parent, gateways, unread, namespace, service)
                found.append(hop)
    return found


def _judge(
    hop: GatewayRoute,
    route: dict,
    parent: dict,
    gateways: dict[tuple[str, str], dict],
    unread: dict[str, str],
    namespace: str,
    service: dict,
) -> None:
    gw_ns = parent.get("namespace") or namespace
    status = _parent_status(route, parent, namespace)
    if status is None:
        hop.problems.append(f"{hop.label} is not accepted yet (its controller wrote no status)")
        return
    conditions = status.get("conditions") or []
    for kind, what in (
        ("Accepted", "is not accepted"),
        ("ResolvedRefs", "has unresolved backends"),
    ):
        bad = _true(conditions, kind)
        if bad is not None:
            hop.problems.append(f"{hop.label} {what} ({kind} {_said(bad)})")
            return
    ports = service["spec"].get("ports") or []
    if hop.port not in {p.get("port") for p in ports}:
        hop.problems.append(
            f"{hop.label} routes to port {hop.port}, which Service {hop.service} lacks"
        )
        return
    gateway = gateways.get((gw_ns, parent.get("name")))
    if gateway is None:
        if gw_ns in unread:
            hop.unread = unread[gw_ns]
        else:
            hop.problems.append(f"{hop.label}: Gateway {parent.get('name')} does not exist")
        return
    gw_status = gateway.get("status") or {}
    not_programmed = _true(gw_status.get("conditions") or [], "Programmed")
    addresses = gw_status.get("addresses") or []
    if not_programmed is not None or not addresses:
        why = _said(not_programmed) if not_programmed else "no address"
        hop.problems.append(f"{hop.label}: the Gateway is not programmed ({why})")
        return
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    section = parent.get("sectionName")
    if section:
        listeners = [entry for entry in listeners if entry.get("name") == section]
    tls = any(entry.get("protocol") in ("HTTPS", "TLS") for entry in listeners)
    hop.internet = _public(addresses)
    where = ", ".join(a.get("value") or "" for a in addresses)
    hop.entry = (
        f"{hop.label} ({where}, {'https' if tls else 'plain http'}) → Service "
        f"{hop.service}:{hop.port}"
    )
