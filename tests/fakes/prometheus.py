"""A strict local fake of the Prometheus HTTP API's instant query, with seeded request counters.

GET or POST /api/v1/query (query, time): https://prometheus.io/docs/prometheus/latest/querying/api/
Modelled beside the reference:
- the envelope: `{"status": "success", "data": {"resultType": "vector", "result": [{"metric":
  {...}, "value": [<unix time>, "<value as a string>"]}]}}`;
- errors: 400 `{"status": "error", "errorType": "bad_data", "error": ...}` for a missing or
  unparsable query or time, as Prometheus answers; 503 while unavailable (fail_next);
- only the two queries the console sends are understood (anything else is bad_data, so a changed
  query breaks the test rather than passing silently): the 7-day `increase` of Istio's standard
  `istio_requests_total` summed by `destination_workload`
  (https://istio.io/latest/docs/reference/config/metrics/) and of ingress-nginx's
  `nginx_ingress_controller_requests` summed by `service`
  (https://kubernetes.github.io/ingress-nginx/user-guide/monitoring/), each filtered to a
  namespace. A series exists only for what the source has seen (a counter that stayed flat
  answers 0; a workload nothing reports on answers no series).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from tests.fakes.server import FakeServer, RecordedRequest, Reply

_QUERIES = {
    "istio": re.compile(
        r'^sum by \(destination_workload\) \(increase\(istio_requests_total\{reporter="destination",'
        r'destination_workload_namespace="([a-z0-9-]+)"\}\[7d\]\)\)$'
    ),
    "nginx": re.compile(
        r"^sum by \(service\) \(increase\(nginx_ingress_controller_requests\{"
        r'namespace="([a-z0-9-]+)"\}\[7d\]\)\)$'
    ),
}
_LABEL = {"istio": "destination_workload", "nginx": "service"}


class FakePrometheus(FakeServer):
    """Seed `counts[(source, namespace, name)] = requests in the last 7 days`."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.counts: dict[tuple[str, str, str], float] = {}

    def error(self, status: int, message: str, request: RecordedRequest) -> Reply:
        kind = {400: "bad_data", 422: "execution", 503: "unavailable"}.get(status, "internal")
        return Reply(status, {"status": "error", "errorType": kind, "error": message})

    def route(self, request: RecordedRequest) -> Reply:
        if request.path != "/api/v1/query" or request.method not in ("GET", "POST"):
            return Reply(404, "404 page not found\n")
        params = dict(request.query)
        if request.method == "POST":
            if request.content_type != "application/x-www-form-urlencoded":
                return self.error(400, 'invalid parameter "query": form body expected', request)
            params.update({k: v[0] for k, v in parse_qs(request.raw_body.decode()).items()})
        query = params.get("query", "")
        if not query:
            return self.error(400, 'invalid parameter "query": unknown position: parse error: '
                              "no expression found in input", request)  # fmt: skip
        try:
            at = float(params.get("time") or 0)
        except ValueError:
            return self.error(400, f'invalid parameter "time": cannot parse "{params["time"]}" '
                              "to a valid timestamp", request)  # fmt: skip
        for source, pattern in _QUERIES.items():
            match = pattern.match(query)
            if match:
                namespace = match.group(1)
                result = [
                    {"metric": {_LABEL[source]: name}, "value": [at, f"{value:g}"]}
                    for (src, ns, name), value in sorted(self.counts.items())
                    if src == source and ns == namespace
                ]
                return Reply(200, {"status": "success",
                                   "data": {"resultType": "vector", "result": result}})  # fmt: skip
        return self.error(400, f"this fake does not understand the query {query!r}", request)
