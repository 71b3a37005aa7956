"""A local gRPC fake of Cloud Monitoring's `MetricService.ListTimeSeries`, with seeded series.

It uses the real request/response protobuf types from `google.cloud.monitoring_v3`, so the
official `MetricServiceClient` talks to it unchanged over an insecure channel on 127.0.0.1.
It records every request, answers only series matching the filter's equality terms and points
whose end time lies in the interval, pages with `page_size`, and rejects a malformed filter with
INVALID_ARGUMENT, as the real service does.

Distribution-valued series (`value_type="DISTRIBUTION"`, points given as bucket counts over
explicit bounds) and the aggregation the audit asks for are modelled as the reference describes
(https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list#Aggregation):
`perSeriesAligner` ALIGN_PERCENTILE_99/95/50 merges each series' distributions per
`alignmentPeriod` and interpolates the percentile inside the bucket that holds it (a DOUBLE
GAUGE point per period, ending at the interval's end); `crossSeriesReducer` REDUCE_MAX/REDUCE_MEAN
then combines the aligned series that share the `groupByFields` values, and the answer keeps only
those labels. A percentile aligner on a non-distribution metric, or a reducer without an aligner,
is INVALID_ARGUMENT.

Numeric DELTA series (request counts) are aligned with ALIGN_SUM or ALIGN_DELTA, which for a DELTA
metric both give the sum of the values in each alignment period, of the input's value type
("ALIGN_SUM ... valid for GAUGE and DELTA metrics with numeric and distribution values",
"ALIGN_DELTA ... valid for CUMULATIVE and DELTA metrics"; Aligner in the reference above), and
REDUCE_SUM adds the aligned series of a group, keeping the value type ("REDUCE_SUM ... valid for
DELTA and GAUGE metrics with numeric and distribution values"; Reducer). A sum aligner on a
distribution metric is refused here (not modelled).
"""

from __future__ import annotations

import re
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    # (start, end, value), DELTA points; for DISTRIBUTION series the value is the bucket counts
    # over `bounds` (len(bounds) + 1 buckets: underflow, the finite ones, overflow).
    points: list[tuple[datetime, datetime, Any]]
    resource_type: str = "cloud_run_revision"
    metric_labels: dict[str, str] = field(default_factory=dict)
    value_type: str = "DOUBLE"  # or "INT64" or "DISTRIBUTION"
    unit: str = ""
    bounds: list[float] = field(default_factory=list)  # explicit bucket bounds (DISTRIBUTION)

    def label(self, key: str) -> str:
        if key.startswith("resource.labels."):
            return self.resource_labels.get(key.removeprefix("resource.labels."), "")
        return self.metric_labels.get(key.removeprefix("metric.labels."), "")

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

    def _typed(self, kind: str, value: Any) -> monitoring_v3.TypedValue:
        if self.value_type != "DISTRIBUTION":
            return monitoring_v3.TypedValue(**{kind: value})
        return monitoring_v3.TypedValue(distribution_value=_distribution(self.bounds, value))

    def percentile(self, start: datetime, end: datetime, rank: float) -> float | None:
        """The `rank` percentile of the merged distributions ending in (start, end]."""
        counts = [0] * (len(self.bounds) + 1)
        for _, p_end, value in self.points:
            if start < p_end <= end:
                counts = [a + b for a, b in zip(counts, value, strict=True)]
        total = sum(counts)
        if not total:
            return None
        wanted, seen = rank / 100 * total, 0
        for i, count in enumerate(counts):
            if count and seen + count >= wanted:
                low = self.bounds[i - 1] if i else 0.0
                high = self.bounds[i] if i < len(self.bounds) else self.bounds[-1]
                return low + (high - low) * (wanted - seen) / count
            seen += count
        return self.bounds[-1]

    def to_message(self, start: datetime, end: datetime) -> monitoring_v3.TimeSeries:
        """The series as the API returns it, with only the points ending in (start, end]."""
        kind = "int64_value" if self.value_type == "INT64" else "double_value"
        points = [
            monitoring_v3.Point(
                interval=monitoring_v3.TimeInterval(start_time=p_start, end_time=p_end),
                value=self._typed(kind, value),
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


def _distribution(bounds: list[float], counts: list[int]) -> Any:
    from google.api import distribution_pb2

    return distribution_pb2.Distribution(
        count=sum(counts),
        bucket_options=distribution_pb2.Distribution.BucketOptions(
            explicit_buckets=distribution_pb2.Distribution.BucketOptions.Explicit(bounds=bounds)
        ),
        bucket_counts=counts,
    )


_PERCENTILES = {"ALIGN_PERCENTILE_99": 99, "ALIGN_PERCENTILE_95": 95, "ALIGN_PERCENTILE_50": 50}
_SUMS = {"ALIGN_SUM", "ALIGN_DELTA"}
_REDUCERS = {"REDUCE_MAX": max, "REDUCE_MEAN": lambda v: sum(v) / len(v), "REDUCE_SUM": sum}


def _aligned(series: SeededSeries, aligner: str, start: datetime, end: datetime) -> Any:
    """One series' value over the single alignment period (None: no point in it)."""
    if aligner in _PERCENTILES:
        return series.percentile(start, end, _PERCENTILES[aligner])
    values = [value for _, p_end, value in series.points if start < p_end <= end]
    return sum(values) if values else None


def aggregate(
    series: list[SeededSeries], aggregation: Any, start: datetime, end: datetime
) -> list[monitoring_v3.TimeSeries]:
    """Aligned (one point per alignment period, here the whole interval when the period is at
    least as long) and reduced series, as the real service computes them; ValueError when the
    combination is refused."""
    aligner = monitoring_v3.Aggregation.Aligner(aggregation.per_series_aligner).name
    reducer = monitoring_v3.Aggregation.Reducer(aggregation.cross_series_reducer).name
    if aligner not in _PERCENTILES and aligner not in _SUMS:
        raise ValueError(f"The aligner {aligner} is not modelled by this fake")
    if aligner in _PERCENTILES and any(s.value_type != "DISTRIBUTION" for s in series):
        raise ValueError(f"The aligner {aligner} requires a DISTRIBUTION metric")
    if aligner in _SUMS and any(s.value_type == "DISTRIBUTION" for s in series):
        raise ValueError(f"The aligner {aligner} on a DISTRIBUTION metric is not modelled")
    period = aggregation.alignment_period.total_seconds() if aggregation.alignment_period else 0
    if period < (end - start).total_seconds():
        raise ValueError("this fake models one alignment period covering the whole interval")
    aligned = [(s, _aligned(s, aligner, start, end)) for s in series]
    aligned = [(s, v) for s, v in aligned if v is not None]
    if reducer == "REDUCE_NONE":
        groups = {(i,): [(s, v)] for i, (s, v) in enumerate(aligned)}
        fields_: list[str] = []
    elif reducer in _REDUCERS:
        fields_ = list(aggregation.group_by_fields)
        groups: dict[tuple, list] = {}
        for s, v in aligned:
            groups.setdefault(tuple(s.label(f) for f in fields_), []).append((s, v))
    else:
        raise ValueError(f"The reducer {reducer} is not modelled by this fake")
    found = []
    for members in groups.values():
        first = members[0][0]
        # Percentiles come out as DOUBLE; sums keep the input's value type.
        kind = "DOUBLE" if aligner in _PERCENTILES else first.value_type
        value = (
            members[0][1]
            if reducer == "REDUCE_NONE"
            else _REDUCERS[reducer]([v for _, v in members])
        )
        kept = {f.removeprefix("resource.labels."): first.label(f) for f in fields_
                if f.startswith("resource.labels.")}  # fmt: skip
        found.append(
            monitoring_v3.TimeSeries(
                metric=metric_pb2.Metric(type=first.metric_type),
                resource=monitored_resource_pb2.MonitoredResource(
                    type=first.resource_type,
                    labels=first.resource_labels if reducer == "REDUCE_NONE" else kept,
                ),
                metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE
                if aligner in _PERCENTILES
                else metric_pb2.MetricDescriptor.MetricKind.DELTA,
                value_type=getattr(metric_pb2.MetricDescriptor.ValueType, kind),
                points=[
                    monitoring_v3.Point(
                        interval=monitoring_v3.TimeInterval(end_time=end),
                        value=monitoring_v3.TypedValue(
                            **{"int64_value" if kind == "INT64" else "double_value": value}
                        ),
                    )
                ],
            )
        )
    return found


@dataclass
class FakeMonitoring:
    """The fake gRPC server; use as a context manager and dial `endpoint` (host:port)."""

    series: list[SeededSeries] = field(default_factory=list)
    requests: list[monitoring_v3.ListTimeSeriesRequest] = field(default_factory=list)
    endpoint: str = ""
    fail_with: grpc.StatusCode | None = None  # answer every call with this status, if set
    # The most series per page when the request names fewer or none: "If pageSize is empty or
    # more than 100,000 results, the effective pageSize is 100000 results" (the reference above).
    page_size: int = 100_000
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
            # `name` scopes the read to one project: a series whose monitored resource names
            # another project (resource.labels.project_id) is not in it.
            project = request.name.split("/", 1)[1]
            matching = [
                s
                for s in self.series
                if s.resource_labels.get("project_id", project) == project and s.matches(terms)
            ]
            if "aggregation" in request and request.aggregation.per_series_aligner:
                try:
                    found = aggregate(matching, request.aggregation, start, end)
                except ValueError as err:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            elif "aggregation" in request and request.aggregation.cross_series_reducer:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "A cross-series reducer requires a per-series aligner",
                )
            else:
                found = [s.to_message(start, end) for s in matching]
        found = [s for s in found if s.points]
        offset = int(request.page_token or 0)
        size = min(request.page_size or self.page_size, self.page_size)
        page = found[offset : offset + size]
        more = offset + size < len(found)
        return monitoring_v3.ListTimeSeriesResponse(
            time_series=page, next_page_token=str(offset + size) if more else ""
        )
