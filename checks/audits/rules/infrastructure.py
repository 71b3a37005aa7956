"""Infrastructure rules: separate deployables, ingress, TLS and DNS."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from checks.audits.evidence import REACHABILITY, Evidence, FleetMember
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    failed,
    fleet,
    missing_probe,
    missing_snapshot,
    no_evidence,
    passed,
    probe,
    registry,
    snap,
    warned,
)

SECTION = "infrastructure"


def _sharing(ev: Evidence, kinds: set[str]) -> list[FleetMember] | None:
    """Other services of these kinds deployed as the same cloud resource; None = not linked."""
    s = ev.service
    if not s.resource:
        return None
    return [
        m for m in ev.fleet.sharing_resource(s.provider, s.account, s.resource) if m.kind in kinds
    ]


def _location(ev: Evidence) -> str:
    s = ev.service
    return f"{s.provider}:{s.account}/{s.resource}" if s.resource else "not linked"


def check_separate_mcp_service(ev: Evidence) -> Finding:
    """No other registered service is deployed as the same cloud resource as this MCP server."""
    shared = _sharing(ev, {"mcp_server", "agent_backend"})
    if shared is None:
        return no_evidence(
            "The service is not linked to a cloud resource, so its deployment cannot be compared.",
            registry(ev, "cloud resource", "not linked"),
        )
    where = registry(ev, "cloud resource", _location(ev))
    if shared:
        names = ", ".join(f"{m.name} ({m.kind.replace('_', ' ')})" for m in shared)
        return failed(
            f"Deployed in the same resource as {names}: they scale, restart and fail together.",
            where,
            fleet(ev, "services in the same resource", names),
        )
    return passed(
        "No other registered service shares this deployment.",
        where,
        fleet(ev, "other services compared", len(ev.fleet.others)),
    )


def check_separate_agent_backend(ev: Evidence) -> Finding:
    """The agent backend is not deployed inside any MCP server's resource."""
    shared = _sharing(ev, {"mcp_server"})
    if shared is None:
        return no_evidence(
            "The backend is not linked to a cloud resource, so its deployment cannot be compared.",
            registry(ev, "cloud resource", "not linked"),
        )
    where = registry(ev, "cloud resource", _location(ev))
    if shared:
        names = ", ".join(m.name for m in shared)
        return failed(
            f"The agent backend runs in the same resource as MCP server(s) {names}.",
            where,
            fleet(ev, "MCP servers in the same resource", names),
        )
    return passed("The agent backend has its own deployment.", where)


def _routes(ev: Evidence) -> Finding | None:
    """Decide from the routes the platform reports: each must lead to a ready instance, and a
    service tagged public must be reachable from outside."""
    observation = ev.observed(REACHABILITY)
    if observation is None:
        return None
    fact = observation.value
    item = observation.item("routes to the service")
    if fact.get("problems"):
        return failed(f"Traffic cannot reach the service as routed: {fact['problems'][0]}.", item)
    if fact.get("exposure") == "none":
        return failed("Nothing routes traffic to the service (no Service selects its pods).", item)
    if "public" in ev.service.tags and fact.get("exposure") != "internet":
        return failed(
            "Tagged public, but the service is reachable only inside the cluster.",
            item,
            registry(ev, "tags", ev.service.tags),
        )
    where = "from the internet" if fact.get("exposure") == "internet" else "inside the cluster"
    return passed(f"Routes lead to ready instances, reachable {where}.", item)


def check_ingress(ev: Evidence) -> Finding:
    """The platform routes traffic to the service the way it should be reached."""
    decided = _routes(ev)
    if decided is not None:
        return decided
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    ingress = snapshot.ingress.strip().lower()
    items = (snap(ev, "ingress", snapshot.ingress or "not reported"), snap(ev, "url", snapshot.url))
    if ingress == "none":
        return failed("Ingress is disabled: nothing can reach the service.", *items)
    if ingress and ingress != "all" and "public" in ev.service.tags:
        return failed(
            f"Tagged public, but ingress is limited ({snapshot.ingress}): outside callers cannot "
            "reach it.",
            *items,
            registry(ev, "tags", ev.service.tags),
        )
    if ingress:
        return passed(f"Ingress is configured ({snapshot.ingress}).", *items)
    if snapshot.url:
        return passed("The platform serves the service at its own URL.", *items)
    return no_evidence("The platform reported neither an ingress setting nor a URL.", *items)


def check_tls(ev: Evidence) -> Finding:
    """The certificate the probe saw is valid, matches the host and is not close to expiry."""
    url = ev.service.url
    scheme = urlsplit(url).scheme.lower()
    if scheme == "http":
        item = registry(ev, "url", url)
        if ev.service.is_production:
            return failed("The production service is registered with a plain http:// URL.", item)
        return warned("The service is registered with a plain http:// URL (not production).", item)
    if ev.probe is None:
        return missing_probe(ev)
    tls = ev.probe.tls
    if tls is None:
        return no_evidence("The latest probe recorded no TLS details.", probe(ev, "url", url))
    limits = ev.thresholds
    items = [
        probe(ev, "certificate expires", tls.not_after or "unknown"),
        probe(ev, "days to expiry", _days(tls.days_to_expiry)),
        probe(ev, "hostname matches", tls.hostname_matches),
        probe(ev, "issuer", tls.issuer or "unknown"),
    ]
    if tls.error:
        return failed(
            f"The TLS handshake failed: {tls.error}", probe(ev, "TLS error", tls.error), *items
        )
    if tls.hostname_matches is False:
        return failed("The certificate does not cover the service's host name.", *items)
    days = tls.days_to_expiry
    if days is None:
        return no_evidence("The probe did not record the certificate's expiry.", *items)
    if days <= 0:
        return failed("The certificate has expired.", *items)
    if days < limits.tls_critical_days:
        return failed(f"The certificate expires in {_days(days)} days.", *items)
    if days < limits.tls_warning_days:
        return warned(f"The certificate expires in {_days(days)} days; renew it soon.", *items)
    return passed(f"The certificate is valid for {_days(days)} more days.", *items)


def _days(days: float | None) -> str:
    return "unknown" if days is None else f"{days:.0f}"


_DNS_FAILURE = re.compile(
    r"name or service not known|nodename nor servname|getaddrinfo|name resolution|"
    r"no address associated|could not resolve|nxdomain|unknown host",
    re.I,
)


def check_dns(ev: Evidence) -> Finding:
    """The service's host name resolves: the probe got past connecting, or failed resolving."""
    host = urlsplit(ev.service.url).hostname or ""
    if not host:
        return no_evidence(
            "The service has no URL registered.", registry(ev, "url", ev.service.url)
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return warned(
            f"The service is addressed by IP ({host}); no DNS record points to it.",
            registry(ev, "url", ev.service.url),
        )
    if ev.probe is None:
        return missing_probe(ev)
    outcome = ev.probe
    items = [probe(ev, "host", host), probe(ev, "probe phase reached", outcome.phase or "all")]
    if outcome.ok or (outcome.phase and outcome.phase != "connect"):
        return passed(f"{host} resolved and the probe reached the service.", *items)
    if _DNS_FAILURE.search(outcome.error):
        return failed(f"{host} does not resolve: {outcome.error}", *items)
    return no_evidence(
        f"The probe could not connect for another reason ({outcome.error or 'unknown'}).", *items
    )


RULES = [
    Rule(
        id="infrastructure.separate-mcp-service",
        section=SECTION,
        title="Each MCP server runs as its own deployable service",
        rationale=(
            "Servers bundled into one deployment share scaling, restarts and outages; a fix to one "
            "redeploys all, and other products cannot reuse one without the rest."
        ),
        evidence=(
            "The cloud resource the service is linked to, compared with every other registered "
            "service's provider, account and resource."
        ),
        severity=Severity.HIGH,
        fix=(
            "Deploy this MCP server as its own service (its own Cloud Run service, ECS "
            "service, Container App or Deployment) and link that resource to it in the "
            "registry."
        ),
        applies_to="mcp_server",
        check=check_separate_mcp_service,
        checklist_item="Each MCP server is a separate service",
    ),
    Rule(
        id="infrastructure.separate-agent-backend",
        section=SECTION,
        title="The agent backend is deployed apart from its MCP servers",
        rationale=(
            "An agent that embeds its tools cannot be updated or scaled without them, and a tool "
            "crash takes the agent down too."
        ),
        evidence="The backend's cloud resource compared with the resources of all MCP servers.",
        severity=Severity.HIGH,
        fix=(
            "Move the agent backend into its own deployable service and call the MCP servers "
            "over the network."
        ),
        applies_to="agent_backend",
        check=check_separate_agent_backend,
        checklist_item="Agent backend is a separate service",
    ),
    Rule(
        id="infrastructure.service-reachability",
        section=SECTION,
        title="Agent backends can reach the MCP servers they call",
        rationale=(
            "The console probes from its own network; only the team knows that each backend's "
            "network path (VPC connector, security groups, policies) reaches its servers."
        ),
        evidence="An attestation naming the tested paths, e.g. a smoke test from each backend.",
        severity=Severity.MEDIUM,
        fix=(
            "Call each MCP server from the agent backend's network (a tools/list through the "
            "same path the agent uses), then attest with what you ran."
        ),
        mode="manual",
        checklist_item="All services can reach each other",
    ),
    Rule(
        id="infrastructure.ingress-configured",
        section=SECTION,
        title="Traffic reaches the service through a configured ingress",
        rationale="Without an ingress or platform URL there is no stable, balanced entry point.",
        evidence=(
            "Kubernetes: the Services and Ingresses routing to the pods, checked to lead to a "
            "container port and ready pods (and to be public when the service is tagged "
            "public); ECS: a listener of its load balancer forwarding to its target group, "
            "with healthy targets; Container Apps: the ingress and its target port; elsewhere "
            "the ingress setting and service URL from the cloud description."
        ),
        reads=(REACHABILITY,),
        severity=Severity.MEDIUM,
        fix=(
            "Put the service behind the platform's ingress or load balancer (Cloud Run URL or "
            "domain mapping, an ALB target group, Container Apps ingress, a Kubernetes "
            "Ingress) and register that URL."
        ),
        check=check_ingress,
        checklist_item="Load balancer/ingress configured",
    ),
    Rule(
        id="infrastructure.tls-valid",
        section=SECTION,
        title="TLS certificate is valid and not close to expiry",
        rationale=(
            "An expired or mismatched certificate breaks every client at once; plain HTTP exposes "
            "tokens and tool traffic on the wire."
        ),
        evidence=(
            "The URL scheme, and the certificate the latest probe saw: expiry, host-name match "
            "and handshake errors. Thresholds for warning and failure are configurable."
        ),
        severity=Severity.HIGH,
        fix=(
            "Serve the service over https with a valid certificate: renew it (or fix its host "
            "names) on the load balancer or domain mapping; managed certificates renew "
            "themselves once DNS points at them."
        ),
        check=check_tls,
        checklist_item="SSL/TLS certificates valid",
    ),
    Rule(
        id="infrastructure.dns-resolves",
        section=SECTION,
        title="A DNS name resolves to the service",
        rationale=(
            "Clients configured with a name survive redeploys and address changes; a raw IP or a "
            "dangling record does not."
        ),
        evidence="The host of the registered URL and whether the latest probe resolved it.",
        severity=Severity.MEDIUM,
        fix=(
            "Create the DNS record for the service's host name pointing at its ingress, and "
            "register that URL."
        ),
        check=check_dns,
        checklist_item="DNS records pointing to services",
    ),
]
