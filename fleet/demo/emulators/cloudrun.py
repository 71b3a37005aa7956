"""A strict local fake of the Cloud Run Admin API v2 (REST), for tests and the demo mode.

Speaks what `run_v2.ServicesClient` / `RevisionsClient(transport="rest")` send: camelCase JSON,
`$alt=json;enum-encoding=int`, PATCH with an `updateMask`, long-running operations, revisions and
traffic, `:getIamPolicy`, and the v1 locations list. It models what makes adapters wrong when
ignored, each beside the reference it comes from:
- an update is accepted as an unfinished operation; `latestReadyRevision` and `trafficStatuses`
  change only when it finishes;
- traffic pinned to named revisions or split between them (a new revision may serve 0 %);
- a fixed revision name (`template.revision`) that already exists is a 409;
- names in answers carry the project number, though requests may use the project id;
- the `-` location wildcard is refused on list;
- pagination (`pageSize` / `pageToken` / `nextPageToken`).
It rejects what Cloud Run rejects (unknown mask paths, output-only fields in a mask, malformed
names, reserved annotation prefixes, impossible scaling, traffic that does not add up) with
Google's error JSON. Run standalone: `python -m fleet.demo.emulators.cloudrun --port 8181`.
"""

from __future__ import annotations

import argparse
import copy
import re
import secrets
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

# https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
_SERVICE_PATH = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services/([^/:]+)$")
_SERVICE_LIST = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services$")
_IAM_PATH = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+):getIamPolicy$")
# https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.operations
_OPERATION_PATH = re.compile(r"^/v2/(projects/([^/]+)/locations/([^/]+)/operations/([^/]+))$")
# https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions
_REVISION_PATH = re.compile(
    r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+)/revisions/([^/]+)$"
)
_REVISION_LIST = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+)/revisions$")
# https://cloud.google.com/run/docs/reference/rest/v1/projects.locations/list
_LOCATIONS = re.compile(r"^/v1/projects/([^/]+)/locations$")
_SERVICE_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")
_REVISION_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_INGRESS = {
    "INGRESS_TRAFFIC_UNSPECIFIED": 0,
    "INGRESS_TRAFFIC_ALL": 1,
    "INGRESS_TRAFFIC_INTERNAL_ONLY": 2,
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": 3,
    "INGRESS_TRAFFIC_NONE": 4,
}
_CONDITION_STATES = {"CONDITION_RECONCILING": 2, "CONDITION_FAILED": 3, "CONDITION_SUCCEEDED": 4}
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
_TRAFFIC_TYPES = {"TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED": 0, LATEST: 1, REVISION: 2}
_SEVERITY = {"ERROR": 1, "WARNING": 2, "INFO": 3}
DEFAULT_LOCATIONS = ("asia-northeast1", "europe-west1", "us-central1")

# Paths a Service update mask may name (camelCase, as the REST API takes them).
_MUTABLE_PATHS = {
    "description", "labels", "annotations", "client", "clientVersion", "ingress", "launchStage",
    "binaryAuthorization", "template", "traffic", "scaling", "invokerIamDisabled",
    "defaultUriDisabled", "customAudiences", "scaling.minInstanceCount", "scaling.scalingMode",
    "scaling.manualInstanceCount", "template.revision", "template.labels", "template.annotations",
    "template.scaling", "template.scaling.minInstanceCount", "template.scaling.maxInstanceCount",
    "template.vpcAccess", "template.timeout", "template.serviceAccount", "template.containers",
    "template.volumes", "template.executionEnvironment", "template.encryptionKey",
    "template.maxInstanceRequestConcurrency", "template.sessionAffinity",
    "template.healthCheckDisabled", "template.nodeSelector", "template.serviceMesh",
}  # fmt: skip
_OUTPUT_ONLY = {
    "uid", "generation", "createTime", "updateTime", "deleteTime", "expireTime", "creator",
    "lastModifier", "observedGeneration", "terminalCondition", "conditions",
    "latestReadyRevision", "latestCreatedRevision", "trafficStatuses", "uri", "urls",
    "reconciling", "etag", "satisfiesPzs",
}  # fmt: skip
_RESERVED_ANNOTATION_PREFIXES = (
    "run.googleapis.com/",
    "autoscaling.knative.dev/",
    "serving.knative.dev/",
    "cloud.googleapis.com/",
)
_CPU_VALUES = {"1", "2", "4", "6", "8", "1000m", "2000m", "4000m", "6000m", "8000m"}
_MEMORY = re.compile(r"^(\d+)(Mi|Gi|M|G)$")

_PERMISSIONS = {
    ("GET", "service"): "run.services.get",
    ("PATCH", "service"): "run.services.update",
    ("GET", "list"): "run.services.list",
    ("GET", "iam"): "run.services.getIamPolicy",
    ("GET", "operation"): "run.operations.get",
    ("GET", "revision"): "run.revisions.get",
    ("GET", "revisions"): "run.revisions.list",
    ("GET", "locations"): "run.locations.list",
}


def project_number(project: str) -> str:
    """The (made-up but stable) project number the fake answers for a project id."""
    return str(100_000_000_000 + zlib.crc32(project.encode()) % 10**11)


def _camel(path: str) -> str:
    return ".".join(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), p) for p in path.split("."))


def _memory_mib(value: str) -> int | None:
    match = _MEMORY.match(value)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return {"Mi": number, "Gi": number * 1024, "M": number * 1000 // 1024 + 1, "G": number * 954}[
        unit
    ]


def _cpu_value(cpu: str) -> float | None:
    if cpu.endswith("m") and cpu[:-1].isdigit():
        return int(cpu[:-1]) / 1000
    try:
        return float(cpu)
    except ValueError:
        return None


class FakeCloudRun(FakeServer):
    """In-memory Cloud Run: services, revisions, traffic, operations, IAM policies."""

    def __init__(self, *, port: int = 0, operation_polls: int | None = 2) -> None:
        super().__init__(port=port)
        self.services: dict[str, dict] = {}  # name with project id -> Service JSON (enum names)
        self.revisions: dict[str, dict[str, dict]] = {}  # service name -> short name -> Revision
        self.operations: dict[str, dict] = {}
        self.iam: dict[str, list[dict]] = {}
        self.numbers: dict[str, str] = {}  # project id -> project number
        self.operation_polls = operation_polls  # polls until an operation is done; None = never
        self.list_page_size = 100
        self.extra_locations: set[str] = set()
        self._next_operation_error: str = ""
        self.report_traffic_statuses = True  # False: answers without trafficStatuses
        self.retry_after = "0"  # seconds a 429 / 503 answer asks the client to wait
        # Where a tag's own URL points: the real shape by default; tests may point it at a
        # loopback server to stand for the tagged revision alone.
        self.tag_uri: Callable[[str, str], str] = _tag_uri

    # -- seeding -----------------------------------------------------------------------------
    def add_service(
        self,
        service_id: str,
        *,
        project: str = "demo-project",
        location: str = "us-central1",
        image: str = "us-docker.pkg.dev/demo-project/mcp/weather:1.4.2",
        labels: dict[str, str] | None = None,
        min_instances: int = 0,
        max_instances: int = 10,
        concurrency: int = 80,
        cpu: str = "1",
        memory: str = "512Mi",
        env: dict[str, str] | None = None,
        secret_env: dict[str, str] | None = None,
        ingress: str = "INGRESS_TRAFFIC_ALL",
        public: bool = True,
        service_account: str = "",
        revision_name: str = "",
        sidecar_image: str = "",
    ) -> str:
        """Create a ready service with one revision serving 100 %; returns its full name.

        `revision_name` fixes `template.revision`, as `gcloud --revision-suffix` or Terraform do.
        """
        name = f"projects/{project}/locations/{location}/services/{service_id}"
        number = self.numbers.setdefault(project, project_number(project))
        env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
        for key, secret in (secret_env or {}).items():
            env_list.append(
                {
                    "name": key,
                    "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}},
                }
            )
        self.services[name] = {
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "labels": dict(labels or {}),
            "annotations": {},
            "createTime": "2025-01-01T00:00:00Z",
            "updateTime": "2025-01-01T00:00:00Z",
            "creator": "deployer@example.com",
            "ingress": ingress,
            "launchStage": "GA",
            "template": {
                "revision": revision_name,
                "labels": {},
                "annotations": {},
                "scaling": {"minInstanceCount": min_instances, "maxInstanceCount": max_instances},
                "timeout": "300s",
                "serviceAccount": service_account
                or f"{number}-compute@developer.gserviceaccount.com",
                "containers": [
                    {
                        "name": "server",
                        "image": image,
                        "env": env_list,
                        "resources": {"limits": {"cpu": cpu, "memory": memory}, "cpuIdle": True},
                        "ports": [{"name": "http1", "containerPort": 8080}],
                    }
                ],
                "maxInstanceRequestConcurrency": concurrency,
                "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            },
            "traffic": [{"type": LATEST, "percent": 100}],
            "observedGeneration": "1",
            "terminalCondition": self._ready_condition(),
            "conditions": [],
            "latestReadyRevision": "",
            "latestCreatedRevision": "",
            "trafficStatuses": [],
            "uri": f"https://{service_id}-{number[:10]}.{location}.run.app",
            "urls": [f"https://{service_id}-{number[:10]}.{location}.run.app"],
            "reconciling": False,
            "etag": f'"{secrets.token_hex(8)}"',
        }
        if sidecar_image:
            # https://cloud.google.com/run/docs/deploying#sidecars: several containers, exactly
            # one of them (the ingress container) with a port.
            self.services[name]["template"]["containers"].insert(
                0, {"name": "collector", "image": sidecar_image, "resources": {"limits": {}}}
            )
        self.revisions[name] = {}
        self._create_revision(name, error="")
        self._resolve_traffic(name)
        members = (
            ["allUsers"]
            if public
            else ["serviceAccount:agent@demo-project.iam.gserviceaccount.com"]
        )
        self.iam[name] = [{"role": "roles/run.invoker", "members": members}]
        return name

    def deploy(self, name: str, *, image: str = "", failed: str = "") -> str:
        """Roll out a new revision at once (another deployer's doing); returns its short name."""
        with self.lock:
            service = self.services[name]
            if image:
                service["template"]["containers"][0]["image"] = image
            service["template"]["revision"] = ""
            revision = self._create_revision(name, error=failed)
            self._resolve_traffic(name)
            return revision

    def pin_traffic(self, name: str, shares: dict[str, int], tags: dict[str, str] | None = None):
        """Route traffic by revision name ("" = LATEST), as `gcloud run services update-traffic`."""
        with self.lock:
            self.services[name]["traffic"] = [
                {"type": LATEST, "percent": pct}
                if not rev
                else {"type": REVISION, "revision": rev, "percent": pct}
                | ({"tag": tags[rev]} if tags and rev in tags else {})
                for rev, pct in shares.items()
            ]
            self._resolve_traffic(name)

    def fail_next_operation(self, message: str) -> None:
        """Make the next rollout finish with an error (e.g. a container that will not start)."""
        with self.lock:
            self._next_operation_error = message

    def revision_of(self, name: str) -> str:
        """The latest ready revision's short name."""
        return self.services[name]["latestReadyRevision"].rsplit("/", 1)[-1]

    def serving(self, name: str) -> dict[str, int]:
        """What the service really serves now: short revision name -> percent."""
        shares: dict[str, int] = {}
        for status in self.services[name]["trafficStatuses"]:
            if status.get("percent"):
                shares[status["revision"]] = shares.get(status["revision"], 0) + status["percent"]
        return shares

    def image_of(self, name: str, revision: str) -> str:
        return self.revisions[name][revision]["containers"][0]["image"]

    # -- the model ---------------------------------------------------------------------------
    def _create_revision(self, name: str, *, error: str) -> str:
        """A revision from the service's current template (ready unless `error`)."""
        service = self.services[name]
        template = service["template"]
        service_id = name.rsplit("/", 1)[-1]
        short = template.get("revision") or (
            f"{service_id}-{len(self.revisions[name]) + 1:05d}-{secrets.token_hex(2)[:3]}"
        )
        full = f"{name}/revisions/{short}"
        # https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services.revisions
        # #Revision: conditions carry readiness and "detailed error information in case it did
        # not reach a serving state".
        if error:
            conditions = [
                {"type": "Ready", "state": "CONDITION_FAILED", "message": error,
                 "severity": "ERROR", "reason": 3},
                {"type": "ContainerHealthy", "state": "CONDITION_FAILED", "message": error,
                 "severity": "ERROR", "revisionReason": 6},
                {"type": "ResourcesAvailable", "state": "CONDITION_SUCCEEDED"},
            ]  # fmt: skip
        else:
            conditions = [
                {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
                {"type": "ContainerHealthy", "state": "CONDITION_SUCCEEDED"},
                {"type": "ResourcesAvailable", "state": "CONDITION_SUCCEEDED"},
            ]
        self.revisions[name][short] = {
            "name": full,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "labels": dict(template.get("labels") or {}),
            "annotations": dict(template.get("annotations") or {}),
            "createTime": f"2025-01-{len(self.revisions[name]) + 1:02d}T00:00:00Z",
            "updateTime": f"2025-01-{len(self.revisions[name]) + 1:02d}T00:00:00Z",
            "launchStage": "GA",
            "service": name,
            "scaling": copy.deepcopy(template.get("scaling") or {}),
            "containers": copy.deepcopy(template["containers"]),
            "maxInstanceRequestConcurrency": template.get("maxInstanceRequestConcurrency", 80),
            "serviceAccount": template.get("serviceAccount", ""),
            "timeout": template.get("timeout", "300s"),
            "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
            "conditions": conditions,
            "observedGeneration": "1",
            "reconciling": False,
            "etag": f'"{secrets.token_hex(8)}"',
        }
        service["latestCreatedRevision"] = full
        if not error:
            service["latestReadyRevision"] = full
        return short

    def _ready(self, name: str, short: str) -> bool:
        revision = self.revisions[name].get(short)
        return bool(revision) and revision["conditions"][0]["state"] == "CONDITION_SUCCEEDED"

    def _resolve_traffic(self, name: str) -> None:
        """`trafficStatuses` from `traffic`: what the routing layer really serves.

        https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services#Service
        (trafficStatuses: "Detailed status information for corresponding traffic targets"; a
        LATEST target resolves to the latest *ready* revision, a REVISION target stays pinned to
        its named revision however many new revisions are created).
        """
        service = self.services[name]
        latest = service["latestReadyRevision"].rsplit("/", 1)[-1]
        statuses = []
        for target in service["traffic"] or [{"type": LATEST, "percent": 100}]:
            status: dict[str, Any] = {
                "type": target["type"],
                "revision": latest if target["type"] == LATEST else target["revision"],
                "percent": target.get("percent", 0),
            }
            if target.get("tag"):
                status["tag"] = target["tag"]
                # TrafficTargetStatus.uri: "Displays the target URI" of a tagged target, which
                # reaches that revision alone (https://cloud.google.com/run/docs/rollouts-rollbacks-traffic-migration#tags).
                status["uri"] = self.tag_uri(service["uri"], target["tag"])
            statuses.append(status)
        service["trafficStatuses"] = statuses

    def _numbered(self, name: str) -> str:
        """The name as the API answers it: with the project number, not the id.

        https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services (names are
        `projects/{project}/...` where `{project}` "can be project id or number"; the service
        answers resource, revision and operation names with the number).
        """
        parts = name.split("/")
        if len(parts) > 1 and parts[0] == "projects" and parts[1] in self.numbers:
            parts[1] = self.numbers[parts[1]]
        return "/".join(parts)

    def _canonical_path(self, path: str) -> str:
        """Requests may name the project by number; the fake keys everything by id."""
        by_number = {number: project for project, number in self.numbers.items()}
        parts = path.split("/")
        if len(parts) > 3 and parts[2] == "projects" and parts[3] in by_number:
            parts[3] = by_number[parts[3]]
        return "/".join(parts)

    # -- errors ------------------------------------------------------------------------------
    def error(
        self, status: int, message: str, request: RecordedRequest, *, status_name: str = ""
    ) -> Reply:
        body: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": status_name or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if status == 403:
            kind, resource = self._classify(request)
            permission = _PERMISSIONS.get((request.method, kind), "run.services.get")
            body["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "run.googleapis.com",
                    "metadata": {"permission": permission, "resource": resource},
                }
            ]
        headers = {"Retry-After": self.retry_after} if status in (429, 503) else {}
        return Reply(status, {"error": body}, headers)

    def fault_message(self, status: int, request: RecordedRequest) -> str:
        kind, resource = self._classify(request)
        if status == 403:
            permission = _PERMISSIONS.get((request.method, kind), "run.services.get")
            return (
                f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
            )
        if status == 404:
            return f"Resource '{resource}' was not found"
        if status == 429:
            return "Quota exceeded for quota metric 'Requests' of service 'run.googleapis.com'."
        return super().fault_message(status, request)

    def _classify(self, request: RecordedRequest) -> tuple[str, str]:
        path = request.path
        for kind, pattern in (
            ("iam", _IAM_PATH),
            ("operation", _OPERATION_PATH),
            ("revision", _REVISION_PATH),
            ("revisions", _REVISION_LIST),
            ("list", _SERVICE_LIST),
            ("service", _SERVICE_PATH),
            ("locations", _LOCATIONS),
        ):
            if pattern.match(path):
                return kind, path.removeprefix("/v2/").removeprefix("/v1/").split(":")[0]
        return "unknown", path.removeprefix("/v2/")

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        alt = request.query.get("$alt", "json")
        if not alt.startswith("json"):
            return self.error(400, f"Unsupported $alt value '{alt}'.", request)
        path = self._canonical_path(request.path)
        if match := _LOCATIONS.match(path):
            return self._list_locations(request, match.group(1))
        if match := _IAM_PATH.match(path):
            return self._get_iam(request, match.group(1))
        if match := _OPERATION_PATH.match(path):
            return self._get_operation(request, match.group(1))
        if match := _REVISION_LIST.match(path):
            return self._list_revisions(request, match.group(1))
        if match := _REVISION_PATH.match(path):
            return self._get_revision(request, match.group(1), match.group(2))
        if match := _SERVICE_LIST.match(path):
            return self._list(request, match.group(1), match.group(2))
        if match := _SERVICE_PATH.match(path):
            if not _SERVICE_ID.match(match.group(3)):
                return self.error(
                    400,
                    f"Invalid resource name '{match.group(3)}': must use only lowercase "
                    "alphanumeric characters and dashes, begin with a letter, and not end with "
                    "a dash (at most 49 characters).",
                    request,
                )
            name = path.removeprefix("/v2/")
            if request.method == "GET":
                return self._get_service(request, name)
            if request.method == "PATCH":
                return self._update_service(request, name)
            return self.error(405, f"Method {request.method} not allowed", request)
        return self.error(404, f"The requested URL {request.path} was not found.", request)

    def _int_enums(self, request: RecordedRequest) -> bool:
        return "enum-encoding=int" in request.query.get("$alt", "")

    def _render_conditions(self, conditions: list[dict], request: RecordedRequest) -> list[dict]:
        out = copy.deepcopy([c for c in conditions if c])
        if self._int_enums(request):
            for condition in out:
                condition["state"] = _CONDITION_STATES.get(condition["state"], 0)
                if "severity" in condition:
                    condition["severity"] = _SEVERITY[condition["severity"]]
        else:
            for condition in out:
                condition.pop("reason", None)
                condition.pop("revisionReason", None)
        return out

    def _render(self, service: dict, request: RecordedRequest) -> dict:
        out = copy.deepcopy(service)
        if not self.report_traffic_statuses:
            out["trafficStatuses"] = []
        for key in ("name", "latestReadyRevision", "latestCreatedRevision"):
            out[key] = self._numbered(out[key])
        if self._int_enums(request):
            out["ingress"] = _INGRESS[out["ingress"]]
            out["launchStage"] = 7 if out["launchStage"] == "GA" else 0
            out["template"]["executionEnvironment"] = 2
            for target in [*out["traffic"], *out["trafficStatuses"]]:
                target["type"] = _TRAFFIC_TYPES[target["type"]]
        out["terminalCondition"] = self._render_conditions([out["terminalCondition"]], request)[0]
        out["conditions"] = self._render_conditions(out["conditions"], request)
        return out

    def _render_revision(self, revision: dict, request: RecordedRequest) -> dict:
        out = copy.deepcopy(revision)
        out["name"] = self._numbered(out["name"])
        out["service"] = self._numbered(out["service"])
        if self._int_enums(request):
            out["launchStage"] = 7
            out["executionEnvironment"] = 2
        out["conditions"] = self._render_conditions(out["conditions"], request)
        return out

    def _get_service(self, request: RecordedRequest, name: str) -> Reply:
        service = self.services.get(name)
        if service is None:
            return self.error(404, f"Resource '{name}' was not found", request)
        return Reply(200, self._render(service, request))

    def _page(self, request: RecordedRequest, items: list) -> tuple[list, dict]:
        """One page and its `nextPageToken` (https://google.aip.dev/158, as every list here)."""
        size = int(request.query.get("pageSize") or self.list_page_size)
        start = int(request.query.get("pageToken") or 0)
        extra = {"nextPageToken": str(start + size)} if start + size < len(items) else {}
        return items[start : start + size], extra

    def _list(self, request: RecordedRequest, project: str, location: str) -> Reply:
        if location == "-":
            # https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/list
            # ("Location must be a valid Google Cloud region, and cannot be the "-" wildcard.")
            return self.error(
                400,
                "Location must be a valid Google Cloud region, and cannot be the '-' wildcard.",
                request,
            )
        prefix = f"projects/{project}/locations/{location}/services/"
        names = sorted(n for n in self.services if n.startswith(prefix))
        page, extra = self._page(request, names)
        body: dict[str, Any] = {"services": [self._render(self.services[n], request) for n in page]}
        return Reply(200, body | extra)

    def _list_locations(self, request: RecordedRequest, project: str) -> Reply:
        regions = set(DEFAULT_LOCATIONS) | self.extra_locations
        regions |= {n.split("/")[3] for n in self.services if n.startswith(f"projects/{project}/")}
        page, extra = self._page(request, sorted(regions))
        locations = [
            {"name": f"projects/{project}/locations/{r}", "locationId": r, "displayName": r}
            for r in page
        ]
        return Reply(200, {"locations": locations} | extra)

    def _list_revisions(self, request: RecordedRequest, service_name: str) -> Reply:
        if service_name not in self.services:
            return self.error(404, f"Resource '{service_name}' was not found", request)
        revisions = sorted(
            self.revisions[service_name].values(), key=lambda r: r["createTime"], reverse=True
        )
        page, extra = self._page(request, revisions)
        body = {"revisions": [self._render_revision(r, request) for r in page]}
        return Reply(200, body | extra)

    def _get_revision(self, request: RecordedRequest, service_name: str, short: str) -> Reply:
        revision = self.revisions.get(service_name, {}).get(short)
        if revision is None:
            return self.error(
                404, f"Resource '{service_name}/revisions/{short}' was not found", request
            )
        return Reply(200, self._render_revision(revision, request))

    def _get_iam(self, request: RecordedRequest, name: str) -> Reply:
        if name not in self.services:
            return self.error(404, f"Resource '{name}' was not found", request)
        return Reply(200, {"version": 1, "etag": "BwYfakeEtag=", "bindings": self.iam[name]})

    # -- updates -----------------------------------------------------------------------------
    def _update_service(self, request: RecordedRequest, name: str) -> Reply:
        # https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch
        if request.content_type != "application/json":
            return self.error(
                400, "Invalid JSON payload: expected Content-Type application/json", request
            )
        body = request.body
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload received.", request)
        service = self.services.get(name)
        if service is None:
            return self.error(404, f"Resource '{name}' was not found", request)
        if body.get("name") not in (None, name, self._numbered(name)):
            return self.error(400, "service.name does not match the URL.", request)
        if body.get("etag") and body["etag"] != service["etag"]:
            return self.error(
                409, f"Etag {body['etag']} does not match; '{name}' was changed meanwhile.", request
            )
        if service["reconciling"]:
            return self.error(
                409,
                f"Resource '{name}' is being modified by another operation; retry later.",
                request,
            )
        mask = [p for p in request.query.get("updateMask", "").split(",") if p]
        paths = [_camel(p) for p in mask]
        for path in paths:
            if path in _OUTPUT_ONLY or path.split(".")[0] in _OUTPUT_ONLY:
                return self.error(
                    400, f"Field '{path}' is output only and cannot be updated.", request
                )
            if path not in _MUTABLE_PATHS:
                return self.error(
                    400, f"Invalid update mask path: '{path}' is not a field of Service.", request
                )
        updated = copy.deepcopy(service)
        if paths:
            for path in paths:
                _copy_path(body, updated, path)
        else:
            for key, value in body.items():
                if key not in _OUTPUT_ONLY:
                    updated[key] = copy.deepcopy(value)
        if isinstance(updated.get("ingress"), int):
            updated["ingress"] = {v: k for k, v in _INGRESS.items()}[updated["ingress"]]
        updated["traffic"] = [_traffic_names(t) for t in updated.get("traffic") or []]
        problem = _validate(updated)
        template_changed = updated["template"] != service["template"]
        new_revision = updated["template"].get("revision", "") if template_changed else ""
        problem = problem or self._check_traffic(name, updated, new_revision)
        if problem:
            return self.error(400, problem, request)
        service_id = name.rsplit("/", 1)[-1]
        if new_revision and not new_revision.startswith(f"{service_id}-"):
            return self.error(
                400,
                "template.revision: Revision name must be prefixed by the name of the enclosing "
                "Service with a trailing -.",
                request,
            )
        if new_revision and new_revision in self.revisions[name]:
            # https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
            # #RevisionTemplate ("revision: The unique name for the revision"): creating a second
            # revision with a name that exists fails with ALREADY_EXISTS (HTTP 409).
            return self.error(
                409,
                f"Revision named '{new_revision}' with different configuration already exists.",
                request,
                status_name="ALREADY_EXISTS",
            )
        generation = str(int(service["generation"]) + 1)
        updated.update(
            generation=generation,
            reconciling=True,
            terminalCondition={
                "type": "Ready",
                "state": "CONDITION_RECONCILING",
                "message": "Deploying revision.",
            },
            conditions=[
                {
                    "type": "ConfigurationsReady",
                    "state": "CONDITION_RECONCILING",
                    "message": "Creating revision.",
                },
                {
                    "type": "RoutesReady",
                    "state": "CONDITION_RECONCILING",
                    "message": "Waiting for revision to become ready.",
                },
            ],  # fmt: skip
            etag=f'"{secrets.token_hex(8)}"',
        )
        # The spec changes now; what is served (latestReadyRevision, trafficStatuses) only when
        # the operation finishes: https://cloud.google.com/run/docs/reference/rest/v2/
        # projects.locations.services/patch returns a long-running Operation.
        self.services[name] = updated
        op_name = name.split("/services/")[0] + f"/operations/{uuid.uuid4()}"
        self.operations[op_name] = {
            "service": name,
            "polls": 0,
            "template_changed": template_changed,
            "error": self._next_operation_error,
            "done": False,
        }
        self._next_operation_error = ""
        return Reply(200, self._operation_json(op_name, request))

    def _check_traffic(self, name: str, service: dict, new_revision: str) -> str:
        """Why Cloud Run would refuse this traffic block, or "".

        https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services
        #TrafficTarget: type LATEST or REVISION (with `revision`); percentages add up to 100.
        """
        traffic = service["traffic"]
        if not traffic:
            return ""
        total = 0
        for target in traffic:
            percent = target.get("percent", 0)
            if not 0 <= percent <= 100:
                return f"traffic: percent {percent} must be between 0 and 100."
            total += percent
            if target["type"] == REVISION:
                revision = target.get("revision", "")
                if not revision:
                    return "traffic: a target of type REVISION needs a revision name."
                if revision != new_revision and revision not in self.revisions[name]:
                    return f"traffic: Revision '{revision}' referenced in traffic not found."
            elif target["type"] == LATEST and target.get("revision"):
                return "traffic: a target of type LATEST must not name a revision."
        if total != 100:
            return f"traffic: percentages must add up to 100, not {total}."
        tags = [t["tag"] for t in traffic if t.get("tag")]
        if len(tags) != len(set(tags)):
            return "traffic: each tag may name only one traffic target."
        return ""

    def _operation_json(self, op_name: str, request: RecordedRequest) -> dict:
        op = self.operations[op_name]
        service = self._render(self.services[op["service"]], request)
        body: dict[str, Any] = {
            "name": self._numbered(op_name),
            "metadata": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", **service},
            "done": op["done"],
        }
        if op["done"]:
            if op["error"]:
                body["error"] = {"code": 9, "message": op["error"]}
            else:
                body["response"] = {
                    "@type": "type.googleapis.com/google.cloud.run.v2.Service",
                    **service,
                }
        return body

    def _get_operation(self, request: RecordedRequest, op_name: str) -> Reply:
        op = self.operations.get(op_name)
        if op is None:
            return self.error(404, f"Operation '{op_name}' was not found", request)
        if not op["done"]:
            op["polls"] += 1
            if self.operation_polls is not None and op["polls"] >= self.operation_polls:
                self._finish(op)
            else:
                self._advance(op)
        return Reply(200, self._operation_json(op_name, request))

    def _advance(self, op: dict) -> None:
        service = self.services[op["service"]]
        if op["polls"] >= 1:
            service["conditions"][0] = {
                "type": "ConfigurationsReady",
                "state": "CONDITION_SUCCEEDED",
                "message": "Revision created; starting instances.",
            }

    def _finish(self, op: dict) -> None:
        op["done"] = True
        name = op["service"]
        service = self.services[name]
        service["reconciling"] = False
        service["observedGeneration"] = service["generation"]
        service["conditions"] = []
        service["updateTime"] = "2025-01-02T00:00:00Z"
        if op["template_changed"]:
            self._create_revision(name, error=op["error"])
        pinned_to_unready = [
            t["revision"]
            for t in service["traffic"]
            if t["type"] == REVISION and not self._ready(name, t["revision"])
        ]
        if not op["error"] and pinned_to_unready:
            op["error"] = (
                f"Revision '{pinned_to_unready[0]}' is not ready and cannot serve traffic."
            )
        if op["error"]:
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_FAILED",
                                            "message": op["error"]}  # fmt: skip
            return
        service["terminalCondition"] = self._ready_condition()
        self._resolve_traffic(name)

    @staticmethod
    def _ready_condition() -> dict:
        return {
            "type": "Ready",
            "state": "CONDITION_SUCCEEDED",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        }


def _traffic_names(target: dict) -> dict:
    """A TrafficTarget with its `type` as the enum name (clients may send the number)."""
    out = dict(target)
    kind = out.get("type", 0)
    if isinstance(kind, int):
        out["type"] = {v: k for k, v in _TRAFFIC_TYPES.items()}[kind]
    return out


def _copy_path(source: dict, target: dict, path: str) -> None:
    """Copy one field-mask path from the request body into the stored resource."""
    keys = path.split(".")
    src: Any = source
    for key in keys[:-1]:
        src = src.get(key, {}) if isinstance(src, dict) else {}
    dst = target
    for key in keys[:-1]:
        dst = dst.setdefault(key, {})
    if isinstance(src, dict) and keys[-1] in src:
        dst[keys[-1]] = copy.deepcopy(src[keys[-1]])
    else:
        dst.pop(keys[-1], None)


def _validate(service: dict) -> str:
    """The first reason Cloud Run would refuse this service, or ""."""
    template = service.get("template") or {}
    for key in template.get("annotations") or {}:
        if key.startswith(_RESERVED_ANNOTATION_PREFIXES):
            return f"Annotation '{key}' uses a reserved prefix; set the equivalent field instead."
    scaling = template.get("scaling") or {}
    low, high = scaling.get("minInstanceCount", 0), scaling.get("maxInstanceCount", 100)
    if low < 0 or high < 0:
        return "template.scaling: instance counts must not be negative."
    if high and low > high:
        return (
            f"template.scaling.max_instance_count ({high}) must be greater than or equal to "
            f"template.scaling.min_instance_count ({low})."
        )
    concurrency = template.get("maxInstanceRequestConcurrency", 80)
    if not 1 <= int(concurrency) <= 1000:
        return "template.max_instance_request_concurrency must be between 1 and 1000."
    containers = template.get("containers") or []
    if not containers:
        return "template.containers: at least one container is required."
    for container in containers:
        if not container.get("image"):
            return "template.containers[0].image is required."
        limits = (container.get("resources") or {}).get("limits") or {}
        cpu = _cpu_value(str(limits.get("cpu", "1")))
        if cpu is None or (str(limits.get("cpu", "1")) not in _CPU_VALUES and not 0.08 <= cpu < 1):
            return f"Invalid value for CPU limit: '{limits.get('cpu')}'."
        if cpu < 1 and int(concurrency) > 1:
            return "Total CPU < 1 is not supported with concurrency > 1."
        memory = _memory_mib(str(limits.get("memory", "512Mi")))
        if memory is None or not 128 <= memory <= 32768:
            return f"Invalid value for memory limit: '{limits.get('memory')}'."
        if memory > 4096 and cpu < 2:
            return "Memory above 4Gi requires at least 2 CPUs."
    return ""


def seed_demo(fake: FakeCloudRun) -> None:
    """A few MCP services for the demo mode and manual poking."""
    fake.add_service(
        "mcp-weather",
        labels={"mcp-server": "true", "team": "tools"},
        env={"LOG_LEVEL": "info"},
        secret_env={"WEATHER_API_KEY": "projects/demo-project/secrets/weather-key"},
    )
    fake.add_service("mcp-search", labels={"mcp-server": "true"}, public=False, min_instances=1)
    fake.add_service(
        "agent-backend", labels={"role": "agent"}, ingress="INGRESS_TRAFFIC_INTERNAL_ONLY"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Cloud Run Admin API v2 on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--polls", type=int, default=3, help="operation polls until done")
    args = parser.parse_args()
    fake = FakeCloudRun(port=args.port, operation_polls=args.polls)
    seed_demo(fake)
    print(f"fake Cloud Run on http://127.0.0.1:{args.port} (project demo-project)", flush=True)
    fake.serve_forever()


def _tag_uri(service_uri: str, tag: str) -> str:
    """A tag's URL as Cloud Run gives it: https://TAG---SERVICE-HASH.REGION.run.app."""
    return service_uri.replace("https://", f"https://{tag}---")


if __name__ == "__main__":
    main()
