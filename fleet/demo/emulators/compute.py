"""A strict local fake of the Compute Engine API v1 (REST) pieces in front of a Cloud Run service:
serverless network endpoint groups, backend services and Cloud Armor security policies, each
read with its `aggregatedList` method (one call per project, all regions and global):

- GET /compute/v1/projects/{project}/aggregated/networkEndpointGroups
  https://cloud.google.com/compute/docs/reference/rest/v1/networkEndpointGroups/aggregatedList
- GET /compute/v1/projects/{project}/aggregated/backendServices
  https://cloud.google.com/compute/docs/reference/rest/v1/backendServices/aggregatedList
- GET /compute/v1/projects/{project}/aggregated/securityPolicies
  https://cloud.google.com/compute/docs/reference/rest/v1/securityPolicies/aggregatedList

Modelled beside each reference:
- the answer's `items` is a map from scope ("global", "regions/us-central1") to a scoped list
  (`{"networkEndpointGroups": [...]}`), and a scope with nothing in it carries a `warning`
  (code NO_RESULTS_ON_PAGE) instead of the list;
- pagination: `maxResults` (0..500, default 500) and `pageToken`, `nextPageToken` in the answer;
  a token from another list is refused with 400;
- a caller without the list permission gets 403 "Required 'compute.X.list' permission for
  'projects/P'", Google's JSON error shape (as Compute answers it); an unknown project 404;
- resources link to each other by full URLs (`selfLink`, `backends[].group`, `securityPolicy`).
Requests need no Authorization header only because the emulator credentials are anonymous.
"""

from __future__ import annotations

import re
from typing import Any

from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

BASE = "https://www.googleapis.com/compute/v1"
_AGGREGATED = re.compile(
    r"^/compute/v1/projects/([a-z][-a-z0-9]{4,28}[a-z0-9])/aggregated/"
    r"(networkEndpointGroups|backendServices|securityPolicies)$"
)
_PERMISSION = {
    "networkEndpointGroups": "compute.networkEndpointGroups.list",
    "backendServices": "compute.backendServices.list",
    "securityPolicies": "compute.securityPolicies.list",
}
_KIND = {
    "networkEndpointGroups": "compute#networkEndpointGroupAggregatedList",
    "backendServices": "compute#backendServiceAggregatedList",
    "securityPolicies": "compute#securityPoliciesAggregatedList",
}
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
_REASON = {400: "invalid", 403: "forbidden", 404: "notFound", 429: "rateLimitExceeded"}


class FakeCompute(FakeServer):
    """Serverless NEGs, backend services and security policies per project."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        # project -> collection -> scope ("global" or "regions/R") -> resources
        self.resources: dict[str, dict[str, dict[str, list[dict]]]] = {}
        self.denied: set[tuple[str, str]] = set()  # (project, permission) the caller lacks
        self.page_size = 500  # the API's maxResults default; a client's smaller value wins

    # -- seeding -----------------------------------------------------------------------------
    def _add(self, project: str, collection: str, scope: str, body: dict) -> dict:
        where = f"{BASE}/projects/{project}/{scope}/{collection}/{body['name']}"
        body = {"id": str(1000 + sum(map(len, self._all(project)))), "selfLink": where, **body}
        if scope != "global":
            body["region"] = f"{BASE}/projects/{project}/{scope}"
        self.resources.setdefault(project, {}).setdefault(collection, {}).setdefault(
            scope, []
        ).append(body)
        return body

    def _all(self, project: str) -> list[list[dict]]:
        return [v for c in self.resources.get(project, {}).values() for v in c.values()]

    def add_serverless_neg(
        self, project: str, region: str, name: str, service: str = "", url_mask: str = ""
    ) -> str:
        """A serverless NEG pointing at a Cloud Run service, or at every service its URL mask
        can name (`cloudRun.urlMask`, e.g. "<service>.example.com": the NEG routes a request to
        the service the URL names, in the NEG's region); returns its selfLink.
        https://cloud.google.com/compute/docs/reference/rest/v1/networkEndpointGroups
        (NetworkEndpointGroupCloudRun: service, tag, urlMask)"""
        if not service and not url_mask:
            raise ValueError("a serverless NEG names a service or carries a URL mask")
        run = {"service": service} if service else {}
        if url_mask:
            run["urlMask"] = url_mask
        neg = {"name": name, "networkEndpointType": "SERVERLESS", "size": 0, "cloudRun": run}
        return self._add(project, "networkEndpointGroups", f"regions/{region}", neg)["selfLink"]

    def add_backend_service(
        self, project: str, name: str, groups: list[str], security_policy: str = ""
    ) -> dict:
        """A global external backend service with these NEGs; `security_policy` names a policy."""
        service: dict[str, Any] = {
            "name": name,
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "protocol": "HTTPS",
            "backends": [{"group": group, "balancingMode": "UTILIZATION"} for group in groups],
        }
        if security_policy:
            service["securityPolicy"] = (
                f"{BASE}/projects/{project}/global/securityPolicies/{security_policy}"
            )
        return self._add(project, "backendServices", "global", service)

    def add_security_policy(self, project: str, name: str, rules: list[dict]) -> dict:
        """A Cloud Armor policy; the default rule (priority 2147483647, allow) is added as the
        API does for every policy."""
        default = {"priority": 2147483647, "action": "allow", "preview": False,
                   "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
                   "description": "default rule"}  # fmt: skip
        body = {"name": name, "type": "CLOUD_ARMOR", "rules": [*rules, default]}
        return self._add(project, "securityPolicies", "global", body)

    def deny(self, project: str, permission: str) -> None:
        """The console's identity lacks `permission` (e.g. compute.backendServices.list)."""
        self.denied.add((project, permission))

    # -- the API -----------------------------------------------------------------------------
    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        # Compute's JSON error: {"error": {"code", "message", "errors": [{"reason", "message",
        # "domain"}], "status"}} (https://cloud.google.com/compute/docs/api/handling-errors).
        reason = _REASON.get(status, "backendError")
        return Reply(status, {"error": {
            "code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN"),
            "errors": [{"message": message, "domain": "global", "reason": reason}]}})  # fmt: skip

    def route(self, request: RecordedRequest) -> Reply:
        match = _AGGREGATED.match(request.path)
        if request.method != "GET" or match is None:
            return self.error(404, f"Not Found: {request.method} {request.path}", request)
        project, collection = match.groups()
        if (project, _PERMISSION[collection]) in self.denied:
            return self.error(
                403,
                f"Required '{_PERMISSION[collection]}' permission for 'projects/{project}'",
                request,
            )
        if project not in self.resources:
            return self.error(404, f"The resource 'projects/{project}' was not found", request)
        try:
            size = int(request.query.get("maxResults") or 500)
        except ValueError:
            return self.error(400, "Invalid value for field 'maxResults'.", request)
        if not 0 <= size <= 500:
            return self.error(
                400, f"Invalid value for field 'maxResults': {size}. Must be between 0 and 500.",
                request,
            )  # fmt: skip
        size = min(size or 500, self.page_size)
        flat = [
            (scope, item)
            for scope, items in sorted(self.resources[project].get(collection, {}).items())
            for item in items
        ]
        token = request.query.get("pageToken") or ""
        start = 0
        if token:
            prefix, _, offset = token.partition(":")
            if prefix != collection or not offset.isdigit():
                return self.error(400, "Invalid value for field 'pageToken'.", request)
            start = int(offset)
        page = flat[start : start + size]
        items: dict[str, dict] = {}
        for scope, item in page:
            items.setdefault(scope, {}).setdefault(collection, []).append(item)
        if not page:  # every scope answers; an empty one with a warning, not a list
            items["global"] = {"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": "There are no results for scope 'global' on this page.",
                "data": [{"key": "scope", "value": "global"}]}}  # fmt: skip
        body: dict[str, Any] = {
            "kind": _KIND[collection],
            "id": f"projects/{project}/aggregated/{collection}",
            "items": items,
            "selfLink": f"{BASE}/projects/{project}/aggregated/{collection}",
        }
        if start + size < len(flat):
            body["nextPageToken"] = f"{collection}:{start + size}"
        return Reply(200, body)
