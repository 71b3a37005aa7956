"""Audit evidence from the service itself: one scrape of its registered metrics path.

Services registered with a `metrics_path` (form, API or fleet file) are scraped once per audit
run, all together through the probe client (bounded concurrency; the egress policy, the response
cap and the credential-only-to-its-origin rule of the probes apply). A Prometheus text exposition
answer is evidence that metrics are exposed for scraping; see checks/probing/metrics_probe.py.
"""

from __future__ import annotations

import asyncio

from checks.audits.evidence import METRICS_SCRAPE, Observation, Provenance
from checks.audits.gather import ReadContext, reader
from checks.models import CheckConfig
from checks.probing.metrics_probe import MetricsScrape, scrape_metrics
from checks.probing.sweep import make_client, run_async
from checks.probing.types import ProbeTarget
from checks.targets import TargetError, target_for

CONCURRENCY = 50


async def _scrape_all(jobs: list[tuple[int, ProbeTarget, str]]) -> dict[int, MetricsScrape]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with make_client(CONCURRENCY) as client:

        async def one(target: ProbeTarget, path: str) -> MetricsScrape:
            async with semaphore:
                try:
                    return await scrape_metrics(target, path, client)
                except Exception as exc:  # one broken scrape must not sink the others
                    return MetricsScrape(None, f"the scrape crashed ({type(exc).__name__}: {exc})")

        found = await asyncio.gather(*(one(target, path) for _, target, path in jobs))
    return {pk: scrape for (pk, _, _), scrape in zip(jobs, found, strict=True)}


@reader(METRICS_SCRAPE)
def read_metrics_scrapes(context: ReadContext) -> dict[int, Observation | str]:
    """Scrape every service in scope that has a metrics path; the others are left out."""
    wanted = [s for s in context.services if s.metrics_path]
    if not wanted:
        return {}
    configs = {c.service_id: c for c in CheckConfig.objects.filter(service__in=wanted)}
    answers: dict[int, Observation | str] = {}
    jobs = []
    for service in wanted:
        try:
            target = target_for(service, configs.get(service.pk) or CheckConfig(service=service))
        except TargetError as exc:
            answers[service.pk] = f"the metrics path was not scraped: {exc}"
            continue
        jobs.append((service.pk, target, service.metrics_path))
    for pk, scrape in run_async(_scrape_all(jobs)).items():
        if scrape.scrapeable is None:
            answers[pk] = scrape.detail
        else:
            origin = Provenance(f"console scrape of {scrape.url}", context.read_at)
            answers[pk] = Observation(scrape.scrapeable, origin, scrape.detail)
    return answers
