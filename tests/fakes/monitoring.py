"""A local gRPC fake of Cloud Monitoring's `MetricService.ListTimeSeries`, with seeded series.

It uses the real request/response protobuf types from `google.cloud.monitoring_v3`, so the
official `MetricServiceClient` talks to it unchanged over an insecure channel on 127.0.0.1.
It records every request, answers only series matching the filter's equality terms and points
whose end time lies in the interval, pages with `page_size`, and rejects a malformed filter with
INVALID_ARGUMENT, as the real service does.
"""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime

import grpc
from google.api import metric_pb2, monitored_resource_pb2
from google.cloud import monitoring_v3

_TERM = re.compile(
    r"^(metric\.type|resource\.type|(?:metric|resource)\.labels\.[A-Za-z_][A-Za-z0-9_]*)"
    r'\s*=\s*"([^"\\]*)"$'
)


def parse_filter(text: str) -> dict[str, str]:
    """Split `a = "x" AND b = "y"` into {a: x, b: y}; ValueError for anything else."""
    terms: dict[str, str] = {}
    for term in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM.match(term.strip())
        if not match:
            raise ValueError(f"The filter {text!r} has an invalid term {term!r}")
        terms[match.group(1)] = match.group(2)
    if "metric.type" not in terms:
        raise ValueError(f"The filter {text!r} must specify a metric type")
    return terms


@dataclass
class SeededSeries:
    """One time series: metric type and labels, the monitored resource, and its points."""

    metric_type: str
    resource_labels: dict[str, str]
    points: list[tuple[datetime, datetime, float | int]]  # (start, end, value), DELTA points
    resource_type: str = "cloud_run_revision"
    metric_labels: dict[str, str] = field(default_factory=dict)
    value_type: str = "DOUBLE"  # or "INT64"
    unit: str = ""

    def matches(self, terms: dict[str, str]) -> bool:
        """Whether every equality term of a filter holds for this series."""
        for key, value in terms.items():
            if key == "metric.type":
                actual = self.metric_type
            elif key == "resource.type":
                actual = self.resource_type
            elif key.startswith("resource.labels."):
                actual = self.resource_labels.get(key.removeprefix("resource.labels."))
            else:
                actual = self.metric_labels.get(key.removeprefix("metric.labels."))
            if actual != value:
                return False
        return True

    def to_message(self, start: datetime, end: datetime) -> monitoring_v3.TimeSeries:
        """The series as the API returns it, with only the points ending in (start, end]."""
        kind = "int64_value" if self.value_type == "INT64" else "double_value"
        points = [
            monitoring_v3.Point(
                interval=monitoring_v3.TimeInterval(start_time=p_start, end_time=p_end),
                value=monitoring_v3.TypedValue(**{kind: value}),
            )
            # Newest first, as the real service returns them.
            for p_start, p_end, value in sorted(self.points, key=lambda p: p[1], reverse=True)
            if start < p_end <= end
        ]
        return monitoring_v3.TimeSeries(
            metric=metric_pb2.Metric(type=self.metric_type, labels=self.metric_labels),
            resource=monitored_resource_pb2.MonitoredResource(
                type=self.resource_type, labels=self.resource_labels
            ),
            metric_kind=metric_pb2.MetricDescriptor.MetricKind.DELTA,
            value_type=getattr(metric_pb2.MetricDescriptor.ValueType, self.value_type),
            points=points,
            unit=self.unit,
        )


@dataclass
class FakeMonitoring:
    """The fake gRPC server; use as a context manager and dial `endpoint` (host:port)."""

    series: list[SeededSeries] = field(default_factory=list)
    requests: list[monitoring_v3.ListTimeSeriesRequest] = field(default_factory=list)
    endpoint: str = ""
    fail_with: grpc.StatusCode | None = None  # answer every call with this status, if set
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> FakeMonitoring:
        handler = grpc.method_handlers_generic_handler(
            "google.monitoring.v3.MetricService",
            {
                "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                    self._list_time_series,
                    request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
                    response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self._server.add_generic_rpc_handlers((handler,))
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.endpoint = f"127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None).wait(5)

    def seed(self, series: SeededSeries) -> None:
        """Add a time series the fake will serve."""
        with self._lock:
            self.series.append(series)

    @property
    def filters(self) -> list[str]:
        """The filters received, in order."""
        return [r.filter for r in self.requests]

    def _list_time_series(
        self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext
    ) -> monitoring_v3.ListTimeSeriesResponse:
        with self._lock:
            self.requests.append(request)
            if self.fail_with is not None:
                context.abort(self.fail_with, f"injected {self.fail_with.name}")
            if not re.fullmatch(r"projects/[^/]+", request.name):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid name {request.name!r}")
            try:
                terms = parse_filter(request.filter)
            except ValueError as err:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            if "interval" not in request or not request.interval.end_time:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "interval.end_time is required")
            end = request.interval.end_time
            # No start time means a single instant, as in the real API.
            start = request.interval.start_time or end
            found = [s.to_message(start, end) for s in self.series if s.matches(terms)]
        found = [s for s in found if s.points]
        offset = int(request.page_token or 0)
        size = request.page_size or len(found) or 1
        page = found[offset : offset + size]
        more = offset + size < len(found)
        return monitoring_v3.ListTimeSeriesResponse(
            time_series=page, next_page_token=str(offset + size) if more else ""
        )
