"""Scrape a service's registered metrics path once, as Prometheus would, and judge the answer.

A scrapeable answer is HTTP 200 with a body that parses as the Prometheus text exposition format
(or OpenMetrics text) and holds at least one sample:
https://prometheus.io/docs/instrumenting/exposition_formats/ . The request goes through the
probe's client, so the egress policy, the response cap and "the credential only to the service's
own origin" hold exactly as for health probes.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.probing.clock import PhaseClock
from checks.probing.errors import ProbeFailure, describe_body
from checks.probing.types import ProbeTarget
from checks.probing.wire import Client, HttpChannel, parse_url
from fleet.validation import join_service_url, metrics_path_problem

# Prometheus' own default scrape body limit is unlimited; a service's exposition is rarely over a
# few MiB, and the audit reads it once, so this bounds the worker's memory, not the service.
MAX_METRICS_BYTES = 8 * 1024 * 1024
# What Prometheus sends (scrape_config's default scrape_protocols, text formats only).
ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"


@dataclass(frozen=True)
class MetricsScrape:
    """What the scrape found: scrapeable (True/False), or None when nothing could be decided."""

    scrapeable: bool | None
    detail: str  # a plain sentence: "12 metric families, 40 samples" or why not
    url: str = ""
    http_status: int | None = None


def parse_exposition(body: bytes) -> tuple[int, int]:
    """(metric families, samples) of a Prometheus text exposition; ValueError when it is not one."""
    from prometheus_client.parser import text_string_to_metric_families

    text = body.decode("utf-8")  # the format is UTF-8 (exposition formats page)
    families = samples = 0
    for family in text_string_to_metric_families(text):
        families += 1
        samples += len(family.samples)
    if not samples:
        raise ValueError("no sample in the answer")
    return families, samples


async def scrape_metrics(target: ProbeTarget, path: str, client: Client) -> MetricsScrape:
    """GET `path` on the service's origin (with the check settings' credential) and judge it."""
    try:
        url = parse_url(join_service_url(target.url, path, metrics_path_problem))
    except ValueError as exc:
        return MetricsScrape(None, f"metrics path refused: {exc}")
    clock = PhaseClock(target.timeout_s)
    auth = (target.auth_header, target.auth_value) if target.auth_header else None
    channel = HttpChannel(
        client,
        clock,
        auth=auth,
        auth_origin=target.url,
        max_bytes=MAX_METRICS_BYTES,
        network=target.network,  # the same proxy, CA bundle and client certificate as probes
    )
    where = str(url)
    try:
        async with (
            clock.phase("metrics", "metrics"),
            channel.send("GET", url, phase="metrics", headers={"Accept": ACCEPT}) as (resp, _),
        ):
            status = resp.status_code
            body = await channel.read_capped(resp, "metrics")
            kind = resp.headers.get("content-type", "").split(";", 1)[0].strip()
    except ProbeFailure as failure:
        return MetricsScrape(None, f"the scrape failed ({failure})", where)
    finally:
        await channel.aclose()
    if status in (401, 403):
        return MetricsScrape(
            None,
            f"{path} answered HTTP {status}: the check settings' credential is missing or "
            "refused there, so whether it serves metrics is unknown",
            where,
            status,
        )
    if status != 200:
        return MetricsScrape(False, f"{path} answered HTTP {status}, not metrics", where, status)
    try:
        families, samples = parse_exposition(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return MetricsScrape(
            False,
            f"{path} answered 200 with {describe_body(body, kind)}, which is not a Prometheus "
            f"text exposition ({exc})",
            where,
            status,
        )
    return MetricsScrape(
        True,
        f"{path} answered a Prometheus text exposition: {families} metric families, "
        f"{samples} samples",
        where,
        status,
    )
