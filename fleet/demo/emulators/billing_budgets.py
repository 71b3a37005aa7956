"""A strict local fake of the Cloud Billing Budgets REST API v1, for the official client to talk to.

Serves `POST|GET /v1/billingAccounts/{id}/budgets` and `GET|PATCH|DELETE .../budgets/{budget}` on
127.0.0.1 with camelCase JSON. Like the real API it rejects unknown fields and bad update masks
with Google's error JSON, gives each budget an etag that changes on every update, and refuses a
PATCH carrying a stale etag (ABORTED). Tests can read what was sent (`requests`), change a budget
"in the cloud" behind the console's back (`modify_in_cloud`) and inject faults (`fail_next`).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_ENUMS: dict[str, list[str]] = {
    "spendBasis": ["BASIS_UNSPECIFIED", "CURRENT_SPEND", "FORECASTED_SPEND"],
    "creditTypesTreatment": [
        "CREDIT_TYPES_TREATMENT_UNSPECIFIED",
        "INCLUDE_ALL_CREDITS",
        "EXCLUDE_ALL_CREDITS",
        "INCLUDE_SPECIFIED_CREDITS",
    ],
    "calendarPeriod": ["CALENDAR_PERIOD_UNSPECIFIED", "MONTH", "QUARTER", "YEAR"],
}
_DATE = {"year": "int", "month": "int", "day": "int"}
_MONEY = {"currencyCode": "str", "units": "int64", "nanos": "int"}
_FILTER = {
    "projects": ["str"],
    "resourceAncestors": ["str"],
    "creditTypes": ["str"],
    "creditTypesTreatment": "enum",
    "services": ["str"],
    "subaccounts": ["str"],
    "labels": "labels",
    "calendarPeriod": "enum",
    "customPeriod": {"startDate": _DATE, "endDate": _DATE},
}
_BUDGET: dict[str, Any] = {
    "name": "str",
    "displayName": "str",
    "budgetFilter": _FILTER,
    "amount": {"specifiedAmount": _MONEY, "lastPeriodAmount": {}},
    "thresholdRules": [{"thresholdPercent": "number", "spendBasis": "enum"}],
    "notificationsRule": {
        "pubsubTopic": "str",
        "schemaVersion": "str",
        "monitoringNotificationChannels": ["str"],
        "disableDefaultIamRecipients": "bool",
        "enableProjectLevelRecipients": "bool",
    },
    "etag": "str",
}
_UPDATABLE = {"displayName", "budgetFilter", "amount", "thresholdRules", "notificationsRule"}
_UPDATABLE |= {f"budgetFilter.{name}" for name in _FILTER}
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


class ApiError(Exception):
    """An error the fake answers with, in Google's JSON error shape."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": _STATUS[self.code]}}


def _check(value: Any, spec: Any, path: str) -> Any:
    """Validate `value` against `spec`, returning it normalised (enums as names, int64 as str)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ApiError(400, f"Invalid value at '{path}': expected an object")
        for key in value:
            if key not in spec:
                raise ApiError(
                    400, f'Invalid JSON payload received. Unknown name "{key}" at {path}'
                )
        return {key: _check(value[key], spec[key], f"{path}.{key}") for key in value}
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise ApiError(400, f"Invalid value at '{path}': expected a list")
        return [_check(item, spec[0], f"{path}[{i}]") for i, item in enumerate(value)]
    return _check_scalar(value, spec, path)


def _check_scalar(value: Any, spec: str, path: str) -> Any:
    field_name = path.rsplit(".", 1)[-1].split("[")[0]
    if spec == "enum":
        names = _ENUMS[field_name]
        if isinstance(value, int) and 0 <= value < len(names):
            return names[value]
        if value in names:
            return value
        raise ApiError(400, f"Invalid value at '{path}': {value!r} is not a valid enum value")
    if spec == "labels":
        if not isinstance(value, dict):
            raise ApiError(400, f"Invalid value at '{path}': expected a map")
        for key, values in value.items():
            if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
                raise ApiError(400, f"'{path}.{key}' must hold exactly one string value")
        return value
    expected = {"str": str, "int": int, "bool": bool, "number": (int, float)}.get(spec)
    if spec == "int64":
        if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
            raise ApiError(400, f"Invalid value at '{path}': {value!r} is not an int64")
        return str(int(value))
    if isinstance(value, bool) and spec != "bool" or not isinstance(value, expected):
        raise ApiError(400, f"Invalid value at '{path}': {value!r} is not a {spec}")
    return value


def _enums_as_ints(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _enums_as_ints(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_enums_as_ints(v, key) for v in value]
    if key in _ENUMS and isinstance(value, str):
        return _ENUMS[key].index(value)
    return value


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: dict | None


@dataclass
class _Fault:
    status: int
    times: int
    method: str | None


@dataclass
class FakeBillingBudgets:
    """The fake server; use as a context manager, then point the client at `endpoint`."""

    budgets: dict[str, dict] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    endpoint: str = ""
    # budgets.list pages its answer: `pageSize` (at most 100, the default) and `pageToken`, and
    # answers `nextPageToken` while more remain.
    # https://cloud.google.com/billing/docs/reference/budget/rest/v1/billingAccounts.budgets/list
    page_size: int = 100
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> FakeBillingBudgets:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(self, status: int, *, times: int = 1, method: str | None = None) -> None:
        """Answer the next `times` requests (of `method`, if given) with this HTTP error."""
        with self._lock:
            self._faults.append(_Fault(status, times, method))

    def add_in_cloud(self, billing_account: str, budget: dict) -> str:
        """A budget someone made in the cloud console, not through the console; returns its name."""
        name = f"billingAccounts/{billing_account}/budgets/{uuid.uuid4()}"
        with self._lock:
            self.budgets[name] = {**copy.deepcopy(budget), "name": name, "etag": uuid.uuid4().hex}
        return name

    def modify_in_cloud(self, name: str, changes: dict) -> dict:
        """Replace top-level fields as someone using the Cloud console would; a new etag results."""
        with self._lock:
            budget = self.budgets[name]
            budget.update(_check(changes, _BUDGET, "budget"))
            budget["etag"] = uuid.uuid4().hex
            return copy.deepcopy(budget)

    def calls(self, method: str) -> list[RecordedRequest]:
        """The recorded requests with this HTTP method."""
        return [r for r in self.requests if r.method == method]

    # -- request handling, called by the handler under the lock --

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (None, method):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def handle(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body))
            fault = self._take_fault(method)
            if fault:
                raise ApiError(fault.status, f"injected fault {fault.status}")
            parts = path.strip("/").split("/")
            if parts[0] != "v1" or len(parts) < 4 or parts[1] != "billingAccounts":
                raise ApiError(404, f"The requested URL {path} was not found on this server.")
            if len(parts) == 4 and parts[3] == "budgets":
                return self._collection(method, f"billingAccounts/{parts[2]}", query, body)
            if len(parts) == 5 and parts[3] == "budgets":
                return self._item(method, "/".join(parts[1:]), query, body)
            raise ApiError(404, f"The requested URL {path} was not found on this server.")

    def _collection(self, method: str, parent: str, query: dict, body: dict | None) -> tuple:
        if method == "POST":
            budget = _check(body or {}, _BUDGET, "budget")
            if "specifiedAmount" not in budget.get("amount", {}) and "lastPeriodAmount" not in (
                budget.get("amount") or {}
            ):
                raise ApiError(400, "Budget amount must be set.")
            self._check_budget_values(budget)
            budget.setdefault("budgetFilter", {})
            budget["budgetFilter"].setdefault("creditTypesTreatment", "INCLUDE_ALL_CREDITS")
            if "customPeriod" not in budget["budgetFilter"]:
                budget["budgetFilter"].setdefault("calendarPeriod", "MONTH")
            budget["name"] = f"{parent}/budgets/{uuid.uuid4()}"
            budget["etag"] = uuid.uuid4().hex
            self.budgets[budget["name"]] = budget
            return 200, copy.deepcopy(budget)
        if method == "GET":
            found = [
                copy.deepcopy(b) for n, b in self.budgets.items() if n.startswith(parent + "/")
            ]
            size = min(int((query.get("pageSize") or [self.page_size])[0]), self.page_size)
            start = int((query.get("pageToken") or ["0"])[0] or 0)
            page = found[start : start + size]
            answer: dict = {"budgets": page} if page else {}
            if start + size < len(found):
                answer["nextPageToken"] = str(start + size)
            return 200, answer
        raise ApiError(404, f"Method {method} not allowed on {parent}/budgets")

    def _item(self, method: str, name: str, query: dict, body: dict | None) -> tuple:
        if name not in self.budgets:
            raise ApiError(404, f"Budget {name} not found.")
        if method == "GET":
            return 200, copy.deepcopy(self.budgets[name])
        if method == "DELETE":
            del self.budgets[name]
            return 200, {}
        if method == "PATCH":
            return 200, self._patch(name, query, body or {})
        raise ApiError(404, f"Method {method} not allowed on {name}")

    def _patch(self, name: str, query: dict, body: dict) -> dict:
        changes = _check(body, _BUDGET, "budget")
        if changes.get("name", name) != name:
            raise ApiError(400, "budget.name does not match the URL")
        current = self.budgets[name]
        if changes.get("etag") and changes["etag"] != current["etag"]:
            raise ApiError(409, "The budget was modified since it was read (etag mismatch).")
        mask = ",".join(query.get("updateMask", []))
        paths = [p for p in mask.split(",") if p] or [
            k for k in changes if k not in ("name", "etag") and changes[k] not in ("", [], {})
        ]
        for path in paths:
            if path not in _UPDATABLE:
                raise ApiError(400, f"Invalid update mask path: {path!r}")
        updated = copy.deepcopy(current)
        for path in paths:
            head, _, sub = path.partition(".")
            if sub:
                source = changes.get(head, {})
                updated.setdefault(head, {})
                if sub in source:
                    updated[head][sub] = source[sub]
                else:
                    updated[head].pop(sub, None)
            elif head in changes:
                updated[head] = changes[head]
            else:
                updated.pop(head, None)
        self._check_budget_values(updated)
        updated["etag"] = uuid.uuid4().hex
        self.budgets[name] = updated
        return copy.deepcopy(updated)

    @staticmethod
    def _check_budget_values(budget: dict) -> None:
        if len(budget.get("displayName", "")) > 60:
            raise ApiError(400, "budget.display_name must be at most 60 characters.")
        money = budget.get("amount", {}).get("specifiedAmount")
        if money is not None and not money.get("currencyCode"):
            raise ApiError(400, "budget.amount.specified_amount.currency_code must be set.")
        for rule in budget.get("thresholdRules", []):
            if rule.get("thresholdPercent", 0) < 0:
                raise ApiError(400, "threshold_percent must be non-negative.")


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBillingBudgets

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            status, payload = self.owner.handle(self.command, url.path, query, body)
            if "enum-encoding=int" in ";".join(query.get("$alt", [])):
                payload = _enums_as_ints(payload)
        except ApiError as err:
            status, payload = err.code, err.body()
        except json.JSONDecodeError:
            status, payload = 400, ApiError(400, "Invalid JSON payload received.").body()
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve
