"""Whether Istio checks a workload's callers, from its security.istio.io/v1 policies, for the audit.

Istio evaluates a request at the workload's proxy: CUSTOM policies first, then DENY, then ALLOW;
with no ALLOW policy a request is allowed, with some it must match one of their rules; an ALLOW
rule that is empty (`{}`) matches every request, and an ALLOW policy without rules matches none.
https://istio.io/latest/docs/reference/config/security/authorization-policy/
A RequestAuthentication only validates the JWTs that requests carry: a request without a token
is still accepted unless an AuthorizationPolicy requires a request principal.
https://istio.io/latest/docs/reference/config/security/request_authentication/
Policies bind to a workload by `selector.matchLabels` (none = every workload of the namespace);
those with `targetRef(s)` bind to gateways or waypoints, not the workload's sidecar. They are
enforced only where an Istio proxy runs: an `istio-proxy` container in the pod (sidecar mode) or
the pod enrolled in ambient mode (`istio.io/dataplane-mode: ambient`).
Policies in the mesh's root namespace (mesh-wide ones) are not read: one namespace per read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Keys of `when` conditions that need an authenticated caller (JWT claims or mTLS identity).
IDENTITY_KEYS = ("request.auth.", "source.principal", "source.namespace")
# Sources that name authenticated callers: JWT request principals, mTLS principals/namespaces.
IDENTITY_SOURCES = ("requestPrincipals", "principals", "namespaces")


@dataclass
class MeshAuth:
    """What the workload's Istio policies say about callers."""

    guarded: bool | None  # True: every request is checked; False: some admit anyone; None: no say
    enforced: bool  # an Istio proxy runs in the pods
    how: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _applies(obj: dict, labels: dict[str, str]) -> bool:
    spec = obj.get("spec") or {}
    if spec.get("targetRef") or spec.get("targetRefs"):
        return False
    wanted = (spec.get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _requires_identity(rule: dict) -> str:
    """What a rule demands of the caller ("" if anyone can match it)."""
    sources = [f.get("source") or {} for f in rule.get("from") or []]
    if sources and all(any(s.get(k) for k in IDENTITY_SOURCES) for s in sources):
        kinds = sorted({k for s in sources for k in IDENTITY_SOURCES if s.get(k)})
        return " or ".join(
            "a JWT (requestPrincipals)" if k == "requestPrincipals" else f"a mesh identity ({k})"
            for k in kinds
        )
    keys = [w.get("key") or "" for w in rule.get("when") or []]
    claims = [k for k in keys if k.startswith(IDENTITY_KEYS)]
    if claims:
        return f"a caller matching {', '.join(claims)}"
    return ""


def _deny_without(rule: dict) -> str:
    """A DENY rule rejecting every request lacking a credential (notRequestPrincipals/
    notPrincipals ["*"]) on every operation."""
    if rule.get("to") or rule.get("when"):
        return ""
    for source in (f.get("source") or {} for f in rule.get("from") or []):
        if "*" in (source.get("notRequestPrincipals") or []):
            return "rejects requests without a valid JWT (notRequestPrincipals *)"
        if "*" in (source.get("notPrincipals") or []):
            return "rejects callers without a mesh identity (notPrincipals *)"
    return ""


def _enforced(pods: list[dict]) -> bool:
    for pod in pods:
        spec = pod.get("spec") or {}
        names = {c.get("name") for c in (spec.get("containers") or [])}
        names |= {c.get("name") for c in (spec.get("initContainers") or [])}
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if "istio-proxy" in names or labels.get("istio.io/dataplane-mode") == "ambient":
            return True
    return False


def mesh_auth(
    policies: list[dict],
    authentications: list[dict],
    labels: dict[str, str],
    pods: Callable[[], list[dict]],
) -> MeshAuth | None:
    """The Istio verdict on who may call pods with these labels; None when no policy applies.
    `pods` gives the workload's pods, asked for only then (whether a proxy enforces it)."""
    mine = [p for p in policies if _applies(p, labels)]
    issuers = sorted(
        {
            r.get("issuer") or "?"
            for a in authentications
            if _applies(a, labels)
            for r in (a.get("spec") or {}).get("jwtRules") or []
        }
    )
    if not mine and not issuers:
        return None
    found = MeshAuth(None, _enforced(pods()))
    checks, allow, grants, opens = [], [], [], []
    for policy in mine:
        spec, name = policy.get("spec") or {}, policy["metadata"]["name"]
        action, rules = spec.get("action") or "ALLOW", spec.get("rules") or []
        label = f"Istio AuthorizationPolicy {name} ({action})"
        if action == "CUSTOM" and any(not r.get("to") for r in rules):
            provider = (spec.get("provider") or {}).get("name") or "?"
            checks.append(f"{label} sends every request to the external authorizer {provider}")
        elif action == "DENY":
            checks += [f"{label} {said}" for r in rules if (said := _deny_without(r))]
        elif action == "ALLOW":
            allow.append(name)
            for rule in rules:
                needs = _requires_identity(rule)
                if needs:
                    grants.append(f"{label} requires {needs}")
                elif not rule:
                    opens.append(f"{label} has an empty rule: it allows every request")
                elif rule.get("to"):
                    ops = [
                        o for t in rule["to"] for o in (t.get("operation") or {}).get("paths") or []
                    ]
                    found.notes.append(
                        f"{label} lets anyone reach {', '.join(ops) or 'some operations'}"
                    )
                else:
                    opens.append(f"{label} admits requests without a caller identity")
    if checks:  # CUSTOM and DENY run before ALLOW: every request meets them first
        found.guarded, found.how = True, checks + grants
        found.notes += opens
    elif allow:
        found.guarded, found.how = not opens, opens + grants
        if not rules_of(mine, allow):
            found.how.append(f"Istio AuthorizationPolicy {', '.join(allow)} allows nothing")
    required = any("JWT" in h for h in found.how)
    if required:
        found.how.append(
            "RequestAuthentication: "
            + (f"JWTs from {', '.join(issuers)}" if issuers else "none, so no JWT is valid")
        )
    elif issuers:
        found.notes.append(
            f"RequestAuthentication validates JWTs from {', '.join(issuers)}, but no "
            "AuthorizationPolicy requires one: requests without a token pass"
        )
    return found


def rules_of(policies: list[dict], names: list[str]) -> list[dict]:
    """The rules of these policies, all together."""
    return [
        r
        for p in policies
        if p["metadata"]["name"] in names
        for r in (p.get("spec") or {}).get("rules") or []
    ]
