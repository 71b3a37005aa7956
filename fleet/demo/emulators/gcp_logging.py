"""Strict local fakes of two Google APIs the audit reads for Cloud Run services, over REST:

- Cloud Logging v2 `entries.list` (POST /v2/entries:list), with seeded log entries of Cloud Run
  revisions: https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list
- Resource Manager v1 `projects.getIamPolicy` (POST /v1/projects/{id}:getIamPolicy), a project's
  IAM bindings and Cloud Audit Logs configuration (auditConfigs):
  https://cloud.google.com/resource-manager/reference/rest/v1/projects/getIamPolicy

Errors use Google's JSON error shape ({"error": {"code", "message", "status"}}). A request
without an Authorization header is accepted only because the emulator credentials are anonymous.

Modelled behaviours of entries.list that the audit's reader depends on, each as documented:
- the filter: equality, `field = ("a" OR "b" ...)`, `timestamp >= "RFC 3339"` (and >, <, <=),
  log_id() with or without NOT, joined by AND; at most 20,000 characters
  (https://cloud.google.com/logging/docs/view/logging-query-language: "resource.type =
  ("k8s_cluster" OR "gce_instance")", and "A query can't exceed 20,000 characters");
- pageSize at most 1000 and nextPageToken paging (the entries.list reference above);
- the read quota: 60 entries.list requests per minute per project, above which the API answers
  429 RESOURCE_EXHAUSTED (https://cloud.google.com/logging/quotas); no Retry-After header.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.demo.emulators.server import FakeServer, RecordedRequest, Reply

_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
# The subset of the Logging query language the console sends: equality on these fields, and
# log_id("...") with or without NOT, joined by AND.
# https://cloud.google.com/logging/docs/view/logging-query-language
_EQUALS = re.compile(
    r'^(resource\.type|resource\.labels\.[a-z_]+|logName|severity)\s*=\s*"([^"]*)"$'
)
_LOG_ID = re.compile(r'^(NOT\s+)?log_id\("([^"]+)"\)$')
_ANY_OF = re.compile(
    r"^(resource\.type|resource\.labels\.[a-z_]+|logName|severity)\s*=\s*\((.*)\)$"
)
_QUOTED = re.compile(r'^"([^"]*)"$')
_TIMESTAMP = re.compile(r'^timestamp\s*(>=|<=|>|<)\s*"([^"]+)"$')
_ORDER = {"timestamp asc", "timestamp desc"}
MAX_FILTER_CHARS = 20_000  # https://cloud.google.com/logging/quotas (query length)
READ_QUOTA_PER_MINUTE = 60  # entries.list per project, https://cloud.google.com/logging/quotas


def _google_error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message,
                                    "status": _STATUS.get(status, "UNKNOWN")}})  # fmt: skip


class FakeCloudLogging(FakeServer):
    """Cloud Logging's entries.list over log entries seeded per Cloud Run service."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.entries: list[dict[str, Any]] = []
        self._last = datetime(2000, 1, 1, tzinfo=UTC)
        # The read quota; tests may shrink the window to see a refusal lift.
        self.read_quota = READ_QUOTA_PER_MINUTE
        self.quota_window_s = 60.0
        self._reads: dict[str, deque[float]] = {}

    def add_entries(
        self,
        project: str,
        service: str,
        payloads: list[str | dict],
        *,
        log: str = "run.googleapis.com/stdout",
        location: str = "us-central1",
        at: datetime | None = None,
    ) -> None:
        """Log entries a Cloud Run service wrote: a dict becomes jsonPayload, text textPayload
        (what Cloud Run's logging agent does with each stdout line). They are stamped now (or
        from `at` on), each a microsecond after the one before."""
        clock = at or max(datetime.now(UTC), self._last + timedelta(microseconds=1))
        for payload in payloads:
            stamp = clock.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            clock += timedelta(microseconds=1)
            entry: dict[str, Any] = {
                "logName": f"projects/{project}/logs/{log.replace('/', '%2F')}",
                "resource": {
                    "type": "cloud_run_revision",
                    "labels": {
                        "project_id": project,
                        "service_name": service,
                        "revision_name": f"{service}-00001-abc",
                        "location": location,
                        "configuration_name": service,
                    },
                },
                "timestamp": stamp,
                "receiveTimestamp": stamp,
                "severity": "INFO",
                "insertId": f"{len(self.entries):08x}",
            }
            key = "jsonPayload" if isinstance(payload, dict) else "textPayload"
            entry[key] = payload
            self.entries.append(entry)
        self._last = max(self._last, clock)

    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        return _google_error(status, message)

    def route(self, request: RecordedRequest) -> Reply:
        if request.path != "/v2/entries:list":
            return self.error(404, f"Requested entity was not found: {request.path}", request)
        if request.method != "POST":
            return self.error(404, f"{request.method} is not supported here", request)
        body = request.body if isinstance(request.body, dict) else {}
        names = body.get("resourceNames") or []
        if not names or not all(
            re.match(r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]$", n) for n in names
        ):
            return self.error(
                400, "resourceNames: at least one valid projects/{id} is required", request
            )
        size = body.get("pageSize", 50)
        if not isinstance(size, int) or not 0 < size <= 1000:
            return self.error(400, f"pageSize must be between 1 and 1000, got {size}", request)
        order = body.get("orderBy", "timestamp asc")
        if order not in _ORDER:
            return self.error(400, f"Invalid orderBy: {order}", request)
        if len(body.get("filter", "")) > MAX_FILTER_CHARS:
            return self.error(
                400, f"Invalid filter: longer than {MAX_FILTER_CHARS} characters", request
            )
        try:
            keep = _compile_filter(body.get("filter", ""))
        except ValueError as exc:
            return self.error(400, f"Invalid filter: {exc}", request)
        projects = {n.split("/", 1)[1] for n in names}
        if refused := self._over_quota(projects):
            return refused
        found = [e for e in self.entries
                 if e["logName"].split("/")[1] in projects and keep(e)]  # fmt: skip
        found.sort(key=lambda e: e["timestamp"], reverse=order == "timestamp desc")
        start = int(body.get("pageToken") or 0)
        page = found[start : start + size]
        answer: dict[str, Any] = {"entries": page} if page else {}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return Reply(200, answer)

    def _over_quota(self, projects: set[str]) -> Reply | None:
        """429 RESOURCE_EXHAUSTED once a project made `read_quota` reads in the window, in
        Google's error shape with an ErrorInfo detail (https://cloud.google.com/apis/design/errors);
        a refused call does not count."""
        now = time.monotonic()
        with self.lock:
            for project in projects:
                reads = self._reads.setdefault(project, deque())
                while reads and reads[0] <= now - self.quota_window_s:
                    reads.popleft()
                if len(reads) >= self.read_quota:
                    return Reply(429, {"error": {
                        "code": 429, "status": "RESOURCE_EXHAUSTED",
                        "message": "Quota exceeded for quota metric 'Read requests' and limit "
                                   "'Read requests per minute' of service "
                                   f"'logging.googleapis.com' for consumer 'project_number:{project}'.",
                        "details": [{
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com",
                            "metadata": {"service": "logging.googleapis.com",
                                         "quota_metric": "logging.googleapis.com/read_requests",
                                         "quota_limit_value": str(self.read_quota)},
                        }],
                    }})  # fmt: skip
            for project in projects:
                self._reads[project].append(now)
        return None


def _compile_filter(text: str):
    checks = []
    for term in filter(None, (t.strip() for t in re.split(r"\s+AND\s+", text.strip()))):
        if match := _EQUALS.match(term):
            field, value = match.groups()
            checks.append(lambda e, f=field, v=value: _field(e, f) == v)
        elif match := _ANY_OF.match(term):
            field, values = match.group(1), set()
            for option in re.split(r"\s+OR\s+", match.group(2).strip()):
                if not (quoted := _QUOTED.match(option.strip())):
                    raise ValueError(f"unsupported value {option!r} in {term!r}")
                values.add(quoted.group(1))
            checks.append(lambda e, f=field, v=frozenset(values): _field(e, f) in v)
        elif match := _TIMESTAMP.match(term):
            # Stored stamps share one UTC format, so comparing them as text orders them.
            op, bound = match.group(1), _stamp(match.group(2))
            checks.append(lambda e, o=op, b=bound: _compare(e["timestamp"], o, b))
        elif match := _LOG_ID.match(term):
            negate, log_id = bool(match.group(1)), match.group(2)
            suffix = "/logs/" + log_id.replace("/", "%2F")
            checks.append(lambda e, s=suffix, n=negate: e["logName"].endswith(s) != n)
        else:
            raise ValueError(f"unsupported term {term!r}")
    return lambda entry: all(check(entry) for check in checks)


def _stamp(text: str) -> str:
    """An RFC 3339 timestamp (the form the query language compares timestamps in), in UTC and
    the format the entries carry."""
    try:
        instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid timestamp {text!r}") from None
    if instant.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _compare(value: str, op: str, bound: str) -> bool:
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]


def _field(entry: dict, path: str) -> str:
    value: Any = entry
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


class FakeResourceManager(FakeServer):
    """Resource Manager's projects.getIamPolicy: bindings and Cloud Audit Logs settings."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.policies: dict[str, dict[str, Any]] = {}

    def set_policy(
        self,
        project: str,
        bindings: dict[str, list[str]],
        audit_configs: dict[str, list[str]] | None = None,
    ) -> None:
        """bindings: role -> members; audit_configs: service ("allServices", "run.googleapis.com")
        -> the log types turned on (ADMIN_READ, DATA_READ, DATA_WRITE)."""
        policy: dict[str, Any] = {
            "version": 1,
            "etag": "BwYkZ" + str(len(self.policies)),
            "bindings": [{"role": r, "members": list(m)} for r, m in bindings.items()],
        }
        if audit_configs:
            policy["auditConfigs"] = [
                {"service": service, "auditLogConfigs": [{"logType": t} for t in types]}
                for service, types in audit_configs.items()
            ]
        self.policies[project] = policy

    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        return _google_error(status, message)

    def route(self, request: RecordedRequest) -> Reply:
        match = re.match(r"^/v1/projects/([^/:]+):getIamPolicy$", request.path)
        if not match:
            return self.error(404, f"Requested entity was not found: {request.path}", request)
        if request.method != "POST":
            return self.error(404, f"{request.method} is not supported here", request)
        policy = self.policies.get(match.group(1))
        if policy is None:  # the API does not tell a missing project from a forbidden one
            return self.error(
                403,
                f"The caller does not have permission (resourcemanager.projects.getIamPolicy on "
                f"projects/{match.group(1)})",
                request,
            )
        return Reply(200, json.loads(json.dumps(policy)))
