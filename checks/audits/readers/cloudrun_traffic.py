"""Requests per Cloud Run service over the last week, for a whole project in one paged call.

Cloud Run records `run.googleapis.com/request_count`, a DELTA INT64 metric per revision and
response code class (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run). One
`timeSeries.list` per project, aligned with ALIGN_SUM over one alignment period as long as the
window and reduced with REDUCE_SUM by `resource.labels.service_name`
(https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list, Aggregation),
answers one series per service that served requests; the client follows nextPageToken. A
service without a series had no request in the window.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

TRAFFIC_DAYS = 7
TIMEOUT_S = 15


def per_service_series(
    client: Any,
    project: str,
    metric: str,
    read_at: datetime,
    days: int,
    aligner: str,
    reducer: str,
) -> Iterator[Any]:
    """The series of one Cloud Run metric over the last `days`, aligned over the whole window
    with `aligner` and reduced with `reducer` by `resource.labels.service_name`: one paged
    `timeSeries.list` for the project, one series per service that has points."""
    from google.cloud import monitoring_v3
    from google.protobuf import duration_pb2

    window = timedelta(days=days)
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=f'metric.type = "{metric}" AND resource.type = "cloud_run_revision"',
        interval=monitoring_v3.TimeInterval(start_time=read_at - window, end_time=read_at),
        aggregation=monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=int(window.total_seconds())),
            per_series_aligner=getattr(monitoring_v3.Aggregation.Aligner, aligner),
            cross_series_reducer=getattr(monitoring_v3.Aggregation.Reducer, reducer),
            group_by_fields=["resource.labels.service_name"],
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )
    return iter(client.list_time_series(request=request, retry=None, timeout=TIMEOUT_S))


def read_request_counts(client: Any, project: str, read_at: datetime) -> dict[str, int]:
    """Per Cloud Run service name of the project: requests in the last TRAFFIC_DAYS days."""
    from fleet.costs.usage import REQUEST_COUNT

    counts: dict[str, int] = {}
    series_found = per_service_series(
        client, project, REQUEST_COUNT, read_at, TRAFFIC_DAYS, "ALIGN_SUM", "REDUCE_SUM"
    )
    for series in series_found:
        name = series.resource.labels.get("service_name", "")
        if not name:
            continue
        total = counts.get(name, 0)
        for point in series.points:  # one per alignment period; more if the window is split
            value = point.value
            total += int(value.double_value if "double_value" in value else value.int64_value)
        counts[name] = total
    return counts
