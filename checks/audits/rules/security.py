"""Security rules: secrets, identities, network exposure, authentication and tool inputs."""

from __future__ import annotations

import re

from checks.audits.evidence import IDENTITY_GRANTS, NETWORK, PLATFORM_AUTH, RATE_LIMITS, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    failed,
    fleet,
    missing_probe,
    missing_snapshot,
    no_evidence,
    not_applicable,
    passed,
    probe,
    registry,
    snap,
    unobserved,
    warned,
)
from checks.audits.secrets import find_plain_secrets

SECTION = "security"


def check_secrets(ev: Evidence) -> Finding:
    """No environment variable holds a credential in plain text."""
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    hits = find_plain_secrets(snapshot.env)
    refs = [v.name for v in snapshot.env if v.is_secret_ref]
    summary = snap(
        ev, "environment", f"{len(snapshot.env)} variables, {len(refs)} from a secret store"
    )
    if hits:
        lines = [snap(ev, "plain credential", hit.describe()) for hit in hits]
        names = ", ".join(hit.name for hit in hits)
        return failed(
            f"{len(hits)} variable(s) hold credentials as plain values: {names}. Move them to a "
            "secret manager and reference them.",
            summary,
            *lines,
        )
    return passed("No plain environment value looks like a credential.", summary)


# Identities every workload gets unless told otherwise: sharing them defeats least privilege.
_DEFAULT_IDENTITIES: dict[str, re.Pattern[str]] = {
    "gcp": re.compile(
        r"^$|-compute@developer\.gserviceaccount\.com$|@appspot\.gserviceaccount\.com$"
    ),
    "kubernetes": re.compile(r"^(?:default|system:serviceaccount:[^:]+:default)?$"),
    "aws": re.compile(r"(?:^|/)ecsTaskExecutionRole$"),
}


def check_dedicated_identity(ev: Evidence) -> Finding:
    """The service runs under an identity of its own, not a platform default or a shared one."""
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    identity = snapshot.service_identity.strip()
    item = snap(ev, "service identity", identity or "none (platform default)")
    default = _DEFAULT_IDENTITIES.get(snapshot.provider)
    if default is not None and default.search(identity):
        return failed(
            "The service runs as the platform's default identity, which every other workload "
            "in the project also gets.",
            item,
        )
    if not identity:
        return passed(
            "No cloud identity is attached, so the service holds no cloud permissions.", item
        )
    shared = [m.name for m in ev.fleet.sharing_identity(identity)]
    if shared:
        return failed(
            f"The identity is shared with {', '.join(shared)}: each gets the union of all their "
            "permissions.",
            item,
            fleet(ev, "services with the same identity", shared),
        )
    return passed("The service has its own identity.", item)


def _network_from_policies(ev: Evidence) -> Finding | None:
    """Decide from who can connect as the platform reports it (Services, Ingresses, policies)."""
    observation = ev.observed(NETWORK)
    if observation is None:
        return None
    fact = observation.value
    item = observation.item("who can connect")
    public = "public" in ev.service.tags
    kind = fact.get("kind", "NetworkPolicy")
    if not fact.get("policies"):
        reach = " and from the internet" if fact.get("exposure") == "internet" else ""
        if kind != "NetworkPolicy":
            if reach and public:
                return passed(
                    "Open to the internet by design (tagged public).",
                    item,
                    registry(ev, "tags", ev.service.tags),
                )
            internet = "anyone on the internet" if reach else "anyone on its network"
            return failed(f"No {kind} limits who can connect: {internet} can.", item)
        return failed(
            f"No NetworkPolicy selects its pods: every pod in the cluster{reach} can connect.",
            item,
        )
    if fact.get("open_policies"):
        names = ", ".join(fact["open_policies"])
        rule = "an ingress rule without 'from'" if kind == "NetworkPolicy" else "0.0.0.0/0"
        return failed(
            f"{kind.capitalize() if kind != 'NetworkPolicy' else kind} {names} admits traffic "
            f"from any source ({rule}), so it restricts nothing.",
            item,
        )
    if fact.get("exposure") == "internet" and not public:
        return warned(
            f"{_plural(kind)} restrict other callers, but the service is also exposed to the "
            "internet; "
            "restrict that entry, or tag the service 'public' if it is intended.",
            item,
            registry(ev, "tags", ev.service.tags),
        )
    return passed(
        f"{kind} {', '.join(fact['policies'])} limits who may connect"
        + (" (open to the internet by design, tagged public)." if public else "."),
        item,
    )


def _plural(kind: str) -> str:
    return "NetworkPolicies" if kind == "NetworkPolicy" else f"{kind.capitalize()}s"


def check_network_restricted(ev: Evidence) -> Finding:
    """The service accepts traffic only from the callers that need it, unless tagged public."""
    decided = _network_from_policies(ev)
    if decided is not None:
        return decided
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    ingress = snapshot.ingress.strip().lower()
    item = snap(ev, "ingress", snapshot.ingress or "not reported")
    if not ingress:
        return no_evidence("The platform did not report who may connect.", item)
    if ingress != "all":
        return passed(f"Ingress is limited ({snapshot.ingress}).", item)
    if "public" in ev.service.tags:
        return passed(
            "Open to the internet by design (tagged public).",
            item,
            registry(ev, "tags", ev.service.tags),
        )
    return warned(
        "The service accepts traffic from the whole internet. Restrict ingress to internal "
        "networks, or tag it 'public' if that is intended.",
        item,
    )


def check_platform_auth(ev: Evidence) -> Finding:
    """Whether the platform lets anyone invoke the service, compared with the declared need."""
    observation = ev.observed(PLATFORM_AUTH)
    if observation is not None:
        fact = observation.value
        open_, internet = fact.get("open"), fact.get("exposure") == "internet"
        items = [observation.item("who may call without credentials")]
    else:
        snapshot = ev.snapshot
        if snapshot is None:
            return missing_snapshot(ev)
        open_ = snapshot.allows_unauthenticated
        internet = snapshot.ingress.strip().lower() == "all"
        items = [snap(ev, "allows unauthenticated invocations", open_)]
    items.append(registry(ev, "requires authentication", ev.service.requires_auth))
    if open_ is None:
        why = ev.unobserved_reason(PLATFORM_AUTH)
        return no_evidence(f"The platform did not say whether it checks callers: {why}.", *items)
    if not open_:
        if observation is not None and observation.value.get("how"):
            how = "; ".join(observation.value["how"])
            return passed(f"Only callers the platform checks or names reach it ({how}).", *items)
        return passed("The platform rejects unauthenticated callers.", *items)
    if not ev.service.requires_auth:
        if internet:
            return warned(
                "Anyone on the internet can call it and it is registered as not needing "
                "authentication; confirm that is intended.",
                *items,
            )
        return passed("Open invocation on a restricted network, as registered.", *items)
    if ev.probe is not None and ev.probe.unauthenticated_tools_list:
        items.append(probe(ev, "tools/list answered without credentials", True))
        return failed(
            "The service must require authentication, yet the platform admits anyone and the "
            "service answered without credentials.",
            *items,
        )
    return warned(
        "The platform admits unauthenticated callers; only the application's own check "
        "protects this service.",
        *items,
    )


def check_rate_limiting(ev: Evidence) -> Finding:
    """A rate limit is configured in front of the service (ingress annotations, WAF, ...)."""
    observation = ev.observed(RATE_LIMITS)
    if observation is None:
        return unobserved(ev, RATE_LIMITS)
    fact = observation.value
    item = observation.item("rate limits in front")
    if fact.get("limits"):
        return passed("Requests are rate limited in front of the service.", item)
    return failed(
        f"Nothing limits request rates at {', '.join(fact.get('front') or ['its entry'])}: a "
        "looping agent can exhaust instances and upstream quotas.",
        item,
    )


def check_identity_grants(ev: Evidence) -> Finding:
    """The roles bound to the service's identity are narrow (no admin/editor, no '*')."""
    observation = ev.observed(IDENTITY_GRANTS)
    if observation is None:
        return unobserved(ev, IDENTITY_GRANTS)
    fact = observation.value
    item = observation.item("roles bound to the identity")
    if fact.get("broad"):
        lines = [observation.origin.item("broad grant", b) for b in fact["broad"]]
        return failed(
            f"The identity holds {len(fact['broad'])} broad grant(s): a compromised tool can act "
            "far beyond the service's own data.",
            item,
            *lines,
        )
    if not fact.get("grants"):
        return passed("No role is bound to the identity: it holds no API permissions.", item)
    return passed(f"{len(fact['grants'])} narrow grant(s), none broad.", item)


_TYPED_KEYS = {"type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf"}


def check_tool_input_schemas(ev: Evidence) -> Finding:
    """Every tool declares an object input schema whose properties all have types."""
    if ev.probe is None:
        return missing_probe(ev)
    tools = ev.probe.tools
    if not tools and not ev.probe.ok:
        return no_evidence(
            "The latest probe failed before listing tools.", probe(ev, "error", ev.probe.error)
        )
    if not tools:
        return not_applicable("The latest probe listed no tools.", probe(ev, "tools", 0))
    no_schema, untyped = [], []
    for tool in tools:
        schema = tool.input_schema
        if not isinstance(schema, dict) or schema.get("type") != "object":
            no_schema.append(tool.name)
            continue
        props = schema.get("properties") or {}
        loose = [
            n for n, p in props.items() if not (isinstance(p, dict) and _TYPED_KEYS & p.keys())
        ]
        if loose:
            untyped.append(f"{tool.name} ({', '.join(loose)})")
    items = [probe(ev, "tools checked", len(tools))]
    if no_schema:
        items.append(probe(ev, "tools without an object schema", no_schema))
    if untyped:
        items.append(probe(ev, "untyped parameters", untyped))
    if no_schema:
        return failed(
            f"{len(no_schema)} tool(s) declare no object input schema, so nothing constrains "
            "their arguments.",
            *items,
        )
    if untyped:
        return warned("Some tool parameters accept any value (no declared type).", *items)
    return passed(
        "Every tool declares typed parameters (server-side checks themselves are not visible).",
        *items,
    )


RULES = [
    Rule(
        id="security.secrets-in-secret-manager",
        section=SECTION,
        title="Credentials come from a secret manager, not plain environment values",
        rationale=(
            "Plain values are visible to anyone who can describe the service, and they end up in "
            "CI logs, shell history and screenshots. A secret reference can be rotated and audited."
        ),
        evidence=(
            "The environment variables in the cloud description: names such as *_KEY, *_TOKEN, "
            "*SECRET*, *PASSWORD* or values shaped like sk-, AKIA, ghp_, JWTs that are not secret "
            "references."
        ),
        severity=Severity.CRITICAL,
        fix=(
            "Move credential values out of plain environment variables into Secret Manager, "
            "AWS Secrets Manager, Key Vault or a Kubernetes Secret, and reference them from "
            "the service."
        ),
        check=check_secrets,
        checklist_item="API keys in secret manager (not .env files)",
    ),
    Rule(
        id="security.dedicated-identity",
        section=SECTION,
        title="The service runs under a dedicated identity",
        rationale=(
            "Least privilege starts with an identity per service; the default compute account or "
            "a shared role carries the permissions of everything that uses it."
        ),
        evidence=(
            "The service account, task role or managed identity in the cloud description, "
            "compared with platform defaults and with other services' identities."
        ),
        severity=Severity.HIGH,
        fix=(
            "Create a service account, task role or managed identity for this service alone "
            "and deploy the service with it."
        ),
        check=check_dedicated_identity,
        checklist_item="IAM roles follow least privilege",
    ),
    Rule(
        id="security.least-privilege-review",
        section=SECTION,
        title="The identity's granted roles were reviewed for least privilege",
        rationale=(
            "A dedicated identity can still hold project-wide editor rights; only a review of its "
            "bindings shows it can touch nothing beyond its own data."
        ),
        evidence=(
            "The roles bound to the service's identity. Cloud Run: the project IAM policy's "
            "roles for its service account (owner, editor, *.admin, token creator are broad); "
            "ECS: the task role's managed and inline policies (AdministratorAccess, "
            "PowerUserAccess, IAMFullAccess, '*' actions on every resource); Container Apps: "
            "role assignments of its managed identities ('*', Microsoft.Authorization/*); "
            "Kubernetes: RoleBindings and ClusterRoleBindings of the pods' ServiceAccount "
            "(cluster-admin/admin/edit, '*' verbs or resources, reading Secrets, granting "
            "roles). An attestation where no API shows them."
        ),
        severity=Severity.MEDIUM,
        fix=(
            "Remove broad bindings from the service's identity (owner, editor, admin, '*' "
            "actions) and bind a role with only the verbs and resources it uses."
        ),
        check=check_identity_grants,
        reads=(IDENTITY_GRANTS,),
        attestable=True,
        checklist_item="IAM roles follow least privilege",
    ),
    Rule(
        id="security.network-restricted",
        section=SECTION,
        title="Network access is restricted to the callers that need it",
        rationale=(
            "An MCP server that only agent backends call should not be reachable from the "
            "internet; a private ingress removes a whole class of attacks."
        ),
        evidence=(
            "Kubernetes: the NetworkPolicies selecting the pods, and the Services and Ingresses "
            "that expose them; ECS: the service's security groups (0.0.0.0/0 rules), public IPs "
            "and internet-facing load balancers; Container Apps: the ingress (external or "
            "internal) and its IP security restrictions; Cloud Run: the ingress setting. The "
            "service's 'public' tag marks intended internet exposure."
        ),
        reads=(NETWORK,),
        severity=Severity.MEDIUM,
        fix=(
            "Restrict ingress to internal traffic or the load balancer (Cloud Run ingress "
            "'internal', private subnets and security groups, internal Container Apps "
            "ingress, a NetworkPolicy), or tag the service 'public' if it is meant to be "
            "open."
        ),
        check=check_network_restricted,
        checklist_item="Network policies restrict traffic",
    ),
    Rule(
        id="security.platform-auth",
        section=SECTION,
        title="Platform-level access matches the service's authentication requirement",
        rationale=(
            "When the platform admits anonymous callers, a single bug in the application's own "
            "check exposes every tool."
        ),
        evidence=(
            "Whether the platform allows unauthenticated invocations (Cloud Run: the invoker "
            "IAM policy; Kubernetes: LoadBalancer/NodePort Services, authentication annotations "
            "on the Ingresses in front, NetworkPolicies for cluster-internal services; Container "
            "Apps: built-in authentication from the app's authConfigs, refusing anonymous "
            "callers with Return401/Return403/RedirectToLoginPage), the "
            "registered authentication requirement and whether the probe got tools without "
            "credentials."
        ),
        reads=(PLATFORM_AUTH,),
        severity=Severity.HIGH,
        fix=(
            "Require authentication at the platform (remove allUsers invoker, disable "
            "anonymous access; Container Apps: enable built-in authentication with "
            "unauthenticatedClientAction Return401 and no excludedPaths over the MCP path) unless "
            "the service is tagged 'public' or 'no-auth'."
        ),
        check=check_platform_auth,
    ),
    Rule(
        id="security.rate-limiting",
        section=SECTION,
        title="Requests are rate limited",
        rationale=(
            "A looping agent or an abusive client can exhaust instances, quotas and upstream API "
            "budgets within minutes."
        ),
        evidence=(
            "Rate-limit annotations (ingress-nginx limit-rps/limit-rpm/limit-connections, "
            "HAProxy) on the Ingresses routing to the service; Cloud Run: Cloud Armor throttle "
            "or rate-based-ban rules on the load balancer in front; ECS: rate-based rules of the "
            "AWS WAF web ACL on its application load balancer; an attestation naming the "
            "gateway or middleware where nothing in front is visible."
        ),
        severity=Severity.HIGH,
        fix=(
            "Enable rate limits in front of the service (an ingress annotation such as "
            "nginx.ingress.kubernetes.io/limit-rps, Cloud Armor, AWS WAF or the gateway)."
        ),
        check=check_rate_limiting,
        reads=(RATE_LIMITS,),
        attestable=True,
        checklist_item="Rate limiting enabled",
    ),
    Rule(
        id="security.tool-input-schemas",
        section=SECTION,
        title="Tool inputs are constrained by typed schemas",
        rationale=(
            "Arguments are written by a model and may be attacker-influenced; typed schemas let "
            "the SDK reject malformed input before tool code runs."
        ),
        evidence="The input schemas of the tools the latest probe listed.",
        severity=Severity.MEDIUM,
        fix=(
            "Give every tool an inputSchema with typed properties (and required fields) so "
            "clients and the server reject malformed calls."
        ),
        applies_to="mcp_server",
        check=check_tool_input_schemas,
        checklist_item="Input validation on all tools",
    ),
    Rule(
        id="security.output-sanitization",
        section=SECTION,
        title="Tool and agent output is sanitized before it reaches a model or a user",
        rationale=(
            "Content fetched from documents or the web can carry prompt injections and markup; "
            "unsanitized output lets it steer the next model call or a browser."
        ),
        evidence="An attestation describing the filtering or escaping applied to outputs.",
        severity=Severity.MEDIUM,
        fix=(
            "Strip or escape instructions and markup from tool output before it reaches a "
            "model or a user, then attest with how."
        ),
        mode="manual",
        checklist_item="Output sanitization for LLM safety",
    ),
]
