"""Rate limits in front of a Cloud Run service: Cloud Armor rules on the load balancer.

A Cloud Run service sits behind an external Application Load Balancer through a serverless
network endpoint group (NEG) whose `cloudRun.service` names it; the NEG is a backend of a backend
service, and the backend service's `securityPolicy` is the Cloud Armor policy that filters its
requests. Rate limiting is a policy rule with action `throttle` or `rate_based_ban` and its
`rateLimitOptions`; a rule in `preview` is only logged, not enforced.
https://cloud.google.com/armor/docs/rate-limiting-overview
https://cloud.google.com/compute/docs/reference/rest/v1/securityPolicies (SecurityPolicyRule)

Everything is read with the Compute API's `aggregatedList` (google-cloud-compute, REST), three
calls per project per audit run whatever the number of services:
networkEndpointGroups, backendServices and securityPolicies. The emulator endpoint comes from
`FLEET_GCP_COMPUTE_ENDPOINT` (honoured only with the emulator switch on loopback).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.audits.evidence import Observation, Provenance
from fleet.operations.clouds import credentials

COMPUTE_ENDPOINT_ENV = "FLEET_GCP_COMPUTE_ENDPOINT"
TIMEOUT_S = 15
LIMITING = {"throttle", "rate_based_ban"}
# The IAM permission each aggregatedList needs (roles/compute.viewer holds all three).
PERMISSIONS = {
    "networkEndpointGroups": "compute.networkEndpointGroups.list",
    "backendServices": "compute.backendServices.list",
    "securityPolicies": "compute.securityPolicies.list",
}
NO_BALANCER_REASON = (
    "no serverless network endpoint group points at it (by name or by a URL mask), so no load "
    "balancer (and no Cloud Armor policy) is in front: Cloud Run itself has no rate limit, and "
    "limits set in the application are not visible through the Google APIs"
)
# A URL mask routes to the service its URL names wherever the mask has this placeholder
# (https://cloud.google.com/load-balancing/docs/negs/serverless-neg-concepts#url_masks).
SERVICE_PLACEHOLDER = "<service>"


class NoEndpoint(Exception):
    """An emulator account without a Compute emulator: never fall through to Google."""


@dataclass
class FrontDoors:
    """What one project's Compute API shows in front of its Cloud Run services."""

    project: str
    read_at: datetime
    negs: list[Any] = field(default_factory=list)  # serverless NEGs
    backends: list[Any] = field(default_factory=list)  # backend services
    policies: dict[str, Any] = field(default_factory=dict)  # selfLink -> SecurityPolicy

    @property
    def origin(self) -> Provenance:
        return Provenance(
            "Compute API aggregatedList networkEndpointGroups, backendServices, "
            f"securityPolicies (projects/{self.project})",
            self.read_at,
        )


def _clients(account: Any) -> dict[str, Any]:
    from google.cloud import compute_v1

    endpoint = os.environ.get(COMPUTE_ENDPOINT_ENV, "")
    if account.endpoint and not endpoint:
        raise NoEndpoint(
            f"account {account.name} points at an emulator and {COMPUTE_ENDPOINT_ENV} is not set"
        )
    ref = dataclasses.replace(account.to_ref(), endpoint=endpoint)
    options = {"credentials": credentials.google_credentials(ref), "transport": "rest"}
    if endpoint:
        options["client_options"] = {"api_endpoint": endpoint}
    return {
        "networkEndpointGroups": compute_v1.NetworkEndpointGroupsClient(**options),
        "backendServices": compute_v1.BackendServicesClient(**options),
        "securityPolicies": compute_v1.SecurityPoliciesClient(**options),
    }


def _aggregated(client: Any, project: str, collection: str, attribute: str) -> list[Any]:
    """Every resource of one aggregatedList, all scopes, all pages (the pager follows
    nextPageToken); a 403 names the permission the console lacks."""
    from google.api_core import exceptions

    try:
        pager = client.aggregated_list(project=project, timeout=TIMEOUT_S, retry=None)
        return [item for _, scoped in pager for item in getattr(scoped, attribute)]
    except exceptions.Forbidden as exc:
        raise PermissionError(
            f"permission {PERMISSIONS[collection]} missing on projects/{project} "
            f"(403 {exc.message})"
        ) from exc


def read_project(account: Any, project: str, read_at: datetime) -> FrontDoors:
    """The serverless NEGs, backend services and security policies of one project."""
    clients = _clients(account)
    doors = FrontDoors(project, read_at)
    negs = _aggregated(
        clients["networkEndpointGroups"],
        project,
        "networkEndpointGroups",
        "network_endpoint_groups",
    )
    doors.negs = [n for n in negs if n.network_endpoint_type == "SERVERLESS"]
    if not doors.negs:
        return doors  # nothing can be in front of a Cloud Run service: skip the other lists
    doors.backends = _aggregated(
        clients["backendServices"], project, "backendServices", "backend_services"
    )
    if any(b.security_policy for b in doors.backends):
        policies = _aggregated(
            clients["securityPolicies"], project, "securityPolicies", "security_policies"
        )
        doors.policies = {p.self_link: p for p in policies}
    return doors


def _routes_to(neg: Any, service: str, region: str) -> bool:
    """Whether the serverless NEG sends requests to `service`: it names the service, or (naming
    none) its URL mask names services from the request URL. A NEG reaches Cloud Run services
    in its own region only."""
    if region and not neg.region.endswith(f"/{region}"):
        return False
    run = neg.cloud_run
    if run.service:
        return run.service == service
    return SERVICE_PLACEHOLDER in (run.url_mask or "")


def _rule_text(policy: Any, rule: Any) -> str:
    options = rule.rate_limit_options
    threshold = options.rate_limit_threshold
    key = options.enforce_on_key or "ALL"
    return (
        f"Cloud Armor policy {policy.name}: rule {rule.priority} {rule.action} above "
        f"{threshold.count} requests per {threshold.interval_sec} s per {key}"
        + (" (preview only: logged, not enforced)" if rule.preview else "")
    )


def rate_limits(doors: FrontDoors, service: str, region: str) -> Observation | str:
    """The rate-limiting Cloud Armor rules on the load balancers in front of `service`."""
    negs = [n for n in doors.negs if _routes_to(n, service, region)]
    if not negs:
        return NO_BALANCER_REASON
    links = {n.self_link for n in negs}
    backends = [b for b in doors.backends if links & {g.group for g in b.backends}]
    if not backends:
        names = ", ".join(n.name for n in negs)
        return (
            f"serverless NEG {names} points at it but no backend service uses it, so no load "
            "balancer routes to it"
        )
    front, limits, notes = [], [], []
    masks = [n for n in negs if not n.cloud_run.service]
    notes += [
        f"reached through URL mask {n.cloud_run.url_mask} of serverless NEG {n.name}" for n in masks
    ]
    for backend in backends:
        front.append(f"backend service {backend.name}")
        if not backend.security_policy:
            notes.append(f"no Cloud Armor policy on backend service {backend.name}")
            continue
        policy = doors.policies.get(backend.security_policy)
        if policy is None:
            notes.append(f"backend service {backend.name} names a policy the list did not return")
            continue
        rules = [r for r in policy.rules if r.action in LIMITING]
        limits += [f"{backend.name}: {_rule_text(policy, r)}" for r in rules if not r.preview]
        notes += [f"{backend.name}: {_rule_text(policy, r)}" for r in rules if r.preview]
        if not rules:
            notes.append(
                f"Cloud Armor policy {policy.name} on {backend.name} has no throttle or "
                "rate_based_ban rule"
            )
    summary = "; ".join(limits + notes)
    return Observation({"front": front, "limits": limits}, doors.origin, summary)
