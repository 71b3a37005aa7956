"""A strict local fake of the Cloud Run Admin API v2 (REST), for tests and the demo mode.

Speaks what `run_v2.ServicesClient(transport="rest")` sends: camelCase JSON,
`$alt=json;enum-encoding=int`, PATCH with an `updateMask`, long-running operations that finish
after a few polls and roll out a new revision, and `:getIamPolicy`. It rejects what Cloud Run
rejects (unknown mask paths, output-only fields in a mask, malformed names, reserved annotation
prefixes, impossible scaling) with Google's error JSON.
Run standalone: `python -m tests.fakes.cloudrun --port 8181`.
"""

from __future__ import annotations

import argparse
import copy
import re
import secrets
import uuid
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply

_SERVICE_PATH = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services/([^/:]+)$")
_SERVICE_LIST = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/services$")
_IAM_PATH = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+/services/[^/:]+):getIamPolicy$")
_OPERATION_PATH = re.compile(r"^/v2/(projects/([^/]+)/locations/([^/]+)/operations/([^/]+))$")
_SERVICE_ID = re.compile(r"^[a-z](?:[-a-z0-9]{0,47}[a-z0-9])?$")

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
}


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
    """In-memory Cloud Run: services, operations, IAM policies."""

    def __init__(self, *, port: int = 0, operation_polls: int | None = 2) -> None:
        super().__init__(port=port)
        self.services: dict[str, dict] = {}  # full name -> Service JSON (enum names internally)
        self.operations: dict[str, dict] = {}
        self.iam: dict[str, list[dict]] = {}
        self.operation_polls = operation_polls  # polls until an operation is done; None = never
        self.list_page_size = 100
        self._next_operation_error: str = ""

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
    ) -> str:
        """Create a ready service with one revision; returns its full resource name."""
        name = f"projects/{project}/locations/{location}/services/{service_id}"
        env_list: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in (env or {}).items()]
        for key, secret in (secret_env or {}).items():
            env_list.append(
                {
                    "name": key,
                    "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}},
                }
            )
        revision = f"{service_id}-00001-{secrets.token_hex(2)[:3]}"
        number = str(abs(hash(project)) % 10**12).zfill(12)
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
                "revision": "",
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
            "traffic": [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}],
            "observedGeneration": "1",
            "terminalCondition": self._ready_condition(),
            "conditions": [],
            "latestReadyRevision": f"{name}/revisions/{revision}",
            "latestCreatedRevision": f"{name}/revisions/{revision}",
            "uri": f"https://{service_id}-{number[:10]}.{location}.run.app",
            "urls": [f"https://{service_id}-{number[:10]}.{location}.run.app"],
            "reconciling": False,
            "etag": f'"{secrets.token_hex(8)}"',
        }
        members = (
            ["allUsers"]
            if public
            else ["serviceAccount:agent@demo-project.iam.gserviceaccount.com"]
        )
        self.iam[name] = [{"role": "roles/run.invoker", "members": members}]
        return name

    def fail_next_operation(self, message: str) -> None:
        """Make the next rollout finish with an error (e.g. a container that will not start)."""
        with self.lock:
            self._next_operation_error = message

    def revision_of(self, name: str) -> str:
        return self.services[name]["latestReadyRevision"].rsplit("/", 1)[-1]

    # -- errors ------------------------------------------------------------------------------
    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        body: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
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
        return Reply(status, {"error": body})

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
            ("list", _SERVICE_LIST),
            ("service", _SERVICE_PATH),
        ):
            if pattern.match(path):
                return kind, path.removeprefix("/v2/").split(":")[0]
        return "unknown", path.removeprefix("/v2/")

    # -- routing -----------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        alt = request.query.get("$alt", "json")
        if not alt.startswith("json"):
            return self.error(400, f"Unsupported $alt value '{alt}'.", request)
        if match := _IAM_PATH.match(request.path):
            return self._get_iam(request, match.group(1))
        if match := _OPERATION_PATH.match(request.path):
            return self._get_operation(request, match.group(1))
        if match := _SERVICE_LIST.match(request.path):
            return self._list(request, match.group(1), match.group(2))
        if match := _SERVICE_PATH.match(request.path):
            if not _SERVICE_ID.match(match.group(3)):
                return self.error(
                    400,
                    f"Invalid resource name '{match.group(3)}': must use only lowercase "
                    "alphanumeric characters and dashes, begin with a letter, and not end with "
                    "a dash (at most 49 characters).",
                    request,
                )
            name = request.path.removeprefix("/v2/")
            if request.method == "GET":
                return self._get_service(request, name)
            if request.method == "PATCH":
                return self._update_service(request, name)
            return self.error(405, f"Method {request.method} not allowed", request)
        return self.error(404, f"The requested URL {request.path} was not found.", request)

    def _render(self, service: dict, request: RecordedRequest) -> dict:
        out = copy.deepcopy(service)
        out["@type"] = "type.googleapis.com/google.cloud.run.v2.Service"
        if "enum-encoding=int" in request.query.get("$alt", ""):
            out["ingress"] = _INGRESS[out["ingress"]]
            out["launchStage"] = 7 if out["launchStage"] == "GA" else 0
            out["template"]["executionEnvironment"] = 2
            out["traffic"] = [{**t, "type": 1} for t in out["traffic"]]
            for condition in [out["terminalCondition"], *out["conditions"]]:
                if condition:
                    condition["state"] = _CONDITION_STATES.get(condition["state"], 0)
        del out["@type"]
        return out

    def _get_service(self, request: RecordedRequest, name: str) -> Reply:
        service = self.services.get(name)
        if service is None:
            return self.error(404, f"Resource '{name}' was not found", request)
        return Reply(200, self._render(service, request))

    def _list(self, request: RecordedRequest, project: str, location: str) -> Reply:
        prefix = f"projects/{project}/locations/{location}/services/"
        names = sorted(
            n
            for n in self.services
            if n.startswith(prefix)
            or (location == "-" and n.startswith(f"projects/{project}/locations/"))
        )
        size = int(request.query.get("pageSize") or self.list_page_size)
        start = int(request.query.get("pageToken") or 0)
        page = names[start : start + size]
        body: dict[str, Any] = {"services": [self._render(self.services[n], request) for n in page]}
        if start + size < len(names):
            body["nextPageToken"] = str(start + size)
        return Reply(200, body)

    def _get_iam(self, request: RecordedRequest, name: str) -> Reply:
        if name not in self.services:
            return self.error(404, f"Resource '{name}' was not found", request)
        return Reply(200, {"version": 1, "etag": "BwYfakeEtag=", "bindings": self.iam[name]})

    # -- updates -----------------------------------------------------------------------------
    def _update_service(self, request: RecordedRequest, name: str) -> Reply:
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
        if body.get("name") not in (None, name):
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
        problem = _validate(updated)
        if problem:
            return self.error(400, problem, request)
        template_changed = updated["template"] != service["template"]
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

    def _operation_json(self, op_name: str, request: RecordedRequest) -> dict:
        op = self.operations[op_name]
        service = self._render(self.services[op["service"]], request)
        body: dict[str, Any] = {
            "name": op_name,
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
        service = self.services[op["service"]]
        service["reconciling"] = False
        service["observedGeneration"] = service["generation"]
        service["conditions"] = []
        if op["error"]:
            service["terminalCondition"] = {"type": "Ready", "state": "CONDITION_FAILED",
                                            "message": op["error"]}  # fmt: skip
            return
        service["terminalCondition"] = self._ready_condition()
        if op["template_changed"]:
            service_id = op["service"].rsplit("/", 1)[-1]
            number = int(service["latestCreatedRevision"].rsplit("-", 2)[-2]) + 1
            revision = f"{service_id}-{number:05d}-{secrets.token_hex(2)[:3]}"
            service["latestCreatedRevision"] = f"{op['service']}/revisions/{revision}"
            service["latestReadyRevision"] = service["latestCreatedRevision"]
        service["updateTime"] = "2025-01-02T00:00:00Z"

    @staticmethod
    def _ready_condition() -> dict:
        return {
            "type": "Ready",
            "state": "CONDITION_SUCCEEDED",
            "lastTransitionTime": "2025-01-01T00:00:00Z",
        }


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


if __name__ == "__main__":
    main()
