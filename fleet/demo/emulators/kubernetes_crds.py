"""Custom resources the console's audit reads beside the built-in kinds, for the Kubernetes fake.

Each group is served only when its CRDs are "installed" (`FakeKubernetes.crds`); otherwise the API
server knows no such path and answers its plain 404 ("the server could not find the requested
resource"), as a cluster without the CRD does. Lists have the `<Kind>List` shape with `limit` /
`continue` chunking like every list (the fake's `_list`); CRDs are served by the same API
machinery, so chunking applies to them too:
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/

- Gateway API v1 (group gateway.networking.k8s.io), https://gateway-api.sigs.k8s.io/reference/spec/
  Gateways (listeners; `status.addresses`, `status.conditions` Accepted/Programmed,
  `status.listeners[].conditions`) and HTTPRoutes (`spec.parentRefs`, `spec.rules[].backendRefs`;
  `status.parents[]` with `parentRef`, `controllerName` and conditions Accepted/ResolvedRefs).
- Istio security v1 (group security.istio.io),
  https://istio.io/latest/docs/reference/config/security/authorization-policy/ and
  https://istio.io/latest/docs/reference/config/security/request_authentication/
- GKE BackendConfig (group cloud.google.com, v1),
  https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration#configuring_ingress_features_through_backendconfig_parameters
"""

from __future__ import annotations

import copy
import re
from typing import Any

# (path pattern, kind) as the API server serves a namespaced custom resource:
# /apis/{group}/{version}/namespaces/{namespace}/{plural}[/{name}]
CRD_ROUTES = [
    (
        re.compile(
            r"^/apis/gateway\.networking\.k8s\.io/v1/namespaces/([^/]+)/gateways(?:/([^/]+))?$"
        ),
        "gateways",
    ),
    (
        re.compile(
            r"^/apis/gateway\.networking\.k8s\.io/v1/namespaces/([^/]+)/httproutes(?:/([^/]+))?$"
        ),
        "httproutes",
    ),
    (
        re.compile(
            r"^/apis/security\.istio\.io/v1/namespaces/([^/]+)/authorizationpolicies"
            r"(?:/([^/]+))?$"
        ),
        "authorizationpolicies",
    ),
    (
        re.compile(
            r"^/apis/security\.istio\.io/v1/namespaces/([^/]+)/requestauthentications"
            r"(?:/([^/]+))?$"
        ),
        "requestauthentications",
    ),
    (
        re.compile(r"^/apis/cloud\.google\.com/v1/namespaces/([^/]+)/backendconfigs(?:/([^/]+))?$"),
        "backendconfigs",
    ),
]
CRD_GROUPS = {
    "gateways": "gateway.networking.k8s.io",
    "httproutes": "gateway.networking.k8s.io",
    "authorizationpolicies": "security.istio.io",
    "requestauthentications": "security.istio.io",
    "backendconfigs": "cloud.google.com",
}
CRD_KINDS = {
    "gateways": ("gateway.networking.k8s.io/v1", "Gateway"),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    "authorizationpolicies": ("security.istio.io/v1", "AuthorizationPolicy"),
    "requestauthentications": ("security.istio.io/v1", "RequestAuthentication"),
    "backendconfigs": ("cloud.google.com/v1", "BackendConfig"),
}
# Which installation serves each kind (FakeKubernetes.crds holds the installed ones).
CRD_INSTALLS = {
    "gateways": "gateway-api",
    "httproutes": "gateway-api",
    "authorizationpolicies": "istio",
    "requestauthentications": "istio",
    "backendconfigs": "gke",
}
GATEWAY_CONTROLLER = "example.net/gateway-controller"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict:
    """A metav1.Condition as Gateway API controllers write them (status "True"/"False")."""
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason or (kind if ok else "Invalid"),
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 1,
    }


class CrdSeeding:
    """Seeding helpers for the custom resources (mixed into FakeKubernetes, which provides
    `add_object`)."""

    crds: set[str]

    def add_gateway(
        self,
        name: str,
        *,
        namespace: str = "mcp",
        address: str | None = "203.0.113.80",
        protocol: str = "HTTPS",
        programmed: bool = True,
        gateway_class: str = "example",
    ) -> dict:
        """A Gateway with one listener ("web"); `address` None = the controller assigned none
        yet (`status.addresses` empty, Programmed False, as the spec's GatewayStatus says)."""
        port = 443 if protocol == "HTTPS" else 80
        listener: dict[str, Any] = {"name": "web", "port": port, "protocol": protocol,
                                    "allowedRoutes": {"namespaces": {"from": "Same"}}}  # fmt: skip
        if protocol == "HTTPS":
            listener["tls"] = {"mode": "Terminate",
                               "certificateRefs": [{"kind": "Secret", "name": f"{name}-tls"}]}  # fmt: skip
        ready = programmed and address is not None
        kind = "Hostname" if address and not address[0].isdigit() else "IPAddress"
        status = {
            "addresses": [{"type": kind, "value": address}] if address else [],
            "conditions": [
                _condition("Accepted", True),
                _condition("Programmed", ready, "" if ready else "AddressNotAssigned"),
            ],
            "listeners": [
                {
                    "name": "web",
                    "attachedRoutes": 0,
                    "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                    "conditions": [_condition("Accepted", True), _condition("Programmed", ready)],
                }
            ],
        }
        body = {"spec": {"gatewayClassName": gateway_class, "listeners": [listener]},
                "status": status}  # fmt: skip
        return self.add_object(  # type: ignore[attr-defined]
            "gateways", name, namespace, body
        )

    def add_http_route(
        self,
        name: str,
        *,
        service: str,
        gateway: str,
        namespace: str = "mcp",
        gateway_namespace: str = "",
        port: int = 80,
        hostname: str = "",
        accepted: bool = True,
        reason: str = "",
        message: str = "",
    ) -> dict:
        """An HTTPRoute attached to `gateway` sending everything to a Service port, with the
        status the Gateway's controller wrote (`status.parents[]`, RouteParentStatus)."""
        parent: dict[str, Any] = {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                  "name": gateway}  # fmt: skip
        if gateway_namespace:
            parent["namespace"] = gateway_namespace
        spec: dict[str, Any] = {
            "parentRefs": [parent],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service, "port": port, "weight": 1}],
                }
            ],
        }
        if hostname:
            spec["hostnames"] = [hostname]
        conditions = [
            _condition("Accepted", accepted, reason or ("Accepted" if accepted else
                                                        "NotAllowedByListeners"), message),
            _condition("ResolvedRefs", True, "ResolvedRefs"),
        ]  # fmt: skip
        status = {"parents": [{"parentRef": copy.deepcopy(parent),
                               "controllerName": GATEWAY_CONTROLLER, "conditions": conditions}]}  # fmt: skip
        return self.add_object(  # type: ignore[attr-defined]
            "httproutes", name, namespace, {"spec": spec, "status": status}
        )

    def add_authorization_policy(
        self,
        name: str,
        *,
        rules: list[dict] | None,
        match_labels: dict[str, str] | None = None,
        action: str = "",
        provider: str = "",
        namespace: str = "mcp",
    ) -> dict:
        """An AuthorizationPolicy; no `match_labels` = every workload of the namespace; an
        unset action is ALLOW; `rules` None = no rules (an ALLOW policy then allows nothing)."""
        spec: dict[str, Any] = {}
        if match_labels is not None:
            spec["selector"] = {"matchLabels": dict(match_labels)}
        if action:
            spec["action"] = action
        if provider:
            spec["provider"] = {"name": provider}
        if rules is not None:
            spec["rules"] = copy.deepcopy(rules)
        return self.add_object(  # type: ignore[attr-defined]
            "authorizationpolicies", name, namespace, {"spec": spec}
        )

    def add_request_authentication(
        self,
        name: str,
        *,
        issuer: str,
        match_labels: dict[str, str] | None = None,
        namespace: str = "mcp",
    ) -> dict:
        """A RequestAuthentication accepting JWTs from one issuer (`jwtRules[].issuer`)."""
        spec: dict[str, Any] = {"jwtRules": [{"issuer": issuer, "jwksUri": f"{issuer}/jwks"}]}
        if match_labels is not None:
            spec["selector"] = {"matchLabels": dict(match_labels)}
        return self.add_object(  # type: ignore[attr-defined]
            "requestauthentications", name, namespace, {"spec": spec}
        )

    def add_backend_config(
        self,
        name: str,
        *,
        iap: bool = False,
        security_policy: str = "",
        namespace: str = "mcp",
    ) -> dict:
        """A GKE BackendConfig: `spec.iap.enabled` (with the OAuth client Secret it needs) and
        `spec.securityPolicy.name` (a Cloud Armor policy)."""
        spec: dict[str, Any] = {}
        if iap:
            spec["iap"] = {"enabled": True,
                           "oauthclientCredentials": {"secretName": f"{name}-oauth"}}  # fmt: skip
        if security_policy:
            spec["securityPolicy"] = {"name": security_policy}
        return self.add_object(  # type: ignore[attr-defined]
            "backendconfigs", name, namespace, {"spec": spec}
        )
