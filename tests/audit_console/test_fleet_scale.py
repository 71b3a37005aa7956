"""Fleet scale: an audit, the scorecard, a run's page and the exports cost the same number of
queries for a fleet of 12 or 40 services, so 5,000 stay fast (bench/audit.py measures time).

The audit writes its result rows in batches of 2,000 rows (one statement each), so both sizes
here stay within one batch; the count grows by one statement per 2,000 results, never per
service."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.audit import _accounts, _grow_fleet
from checks import health
from checks.audits import services as audit_services
from checks.audits.models import AuditPolicy
from checks.models import ProbeResult
from fleet.models import Service


def _audited_fleet(size: int):
    AuditPolicy.current()  # created on first read: not part of what is compared
    _grow_fleet(0, size, _accounts())
    run = audit_services.create_run(actor="test", trigger="cli", enqueue=False)
    with CaptureQueriesContext(connection) as queries:
        run = audit_services.execute_run(run)
    assert run.status == "succeeded", run.error
    return run, len(queries)


def _queries(client, path: str) -> int:
    client.get(path)  # warm the session and caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200, path
    return len(queries)


PAGES = [
    "/audits/",
    "/audits/?team=team-3&page=1",
    "/audits/runs/{run}/",
    "/audits/runs/{run}/?rule=reliability.multiple-replicas&status=fail",
    "/audits/runs/{run}/?service=svc-00007",
    "/audits/runs/{run}.json",
    "/audits/runs/{run}.csv",
    "/audits/runs/{run}.md",
]


@pytest.fixture
def measure(viewer_client):
    def run(size: int) -> tuple[int, dict[str, int]]:
        audit, audit_queries = _audited_fleet(size)
        pages = {p: _queries(viewer_client, p.format(run=audit.pk)) for p in PAGES}
        return audit_queries, pages

    return run


def test_query_counts_do_not_grow_with_the_fleet(measure, django_db_blocker):
    small_audit, small_pages = measure(12)
    Service.objects.all().delete()
    big_audit, big_pages = measure(40)
    assert big_audit == small_audit, "the audit run's queries grew with the fleet"
    assert big_pages == small_pages
    assert max(big_pages.values()) <= 15


def test_a_fleet_run_page_summarises_rules_and_pages_services(viewer_client):
    run, _ = _audited_fleet(60)
    page = viewer_client.get(f"/audits/runs/{run.pk}/").content.decode()
    assert "Rules across the fleet" in page
    assert "Page 1 of 2" in page  # 50 services a page, lowest score first
    worst = run.service_scores.order_by("overall", "service_name").first()
    assert page.index(worst.service_name) < page.index("Page 1 of 2")
    assert page.count('class="result-') == 0  # no per-result rows until a filter asks
    assert len(page) < 200_000


def test_bulk_probe_readers_agree_with_the_per_service_ones(db):
    _grow_fleet(0, 6, _accounts())
    services = list(Service.objects.order_by("name"))
    old = timezone.now() - timedelta(days=3)
    ProbeResult.objects.create(service=services[0], checked_at=old, ok=False, latency_ms=None)
    outcomes = health.latest_outcomes(services)
    stats = health.probe_stats_many(services)
    for service in services:
        outcome, when = outcomes[service.pk]
        assert outcome == health.latest_outcome(service)
        assert when == ProbeResult.objects.filter(service=service).latest("checked_at").checked_at
        assert stats[service.pk] == health.probe_stats(service)


def test_api_run_results_inline_for_small_runs_and_per_service_for_large_ones(
    fleet, operator_client, run_audit, monkeypatch
):
    from checks.audits import api

    run = run_audit()
    small = operator_client.get(f"/api/v1/audits/{run.pk}").json()
    assert set(small["results"]) == {s.name for s in fleet}
    assert small["scores"]["coverage"]["applicable"] > 0

    monkeypatch.setattr(api, "INLINE_RESULTS_MAX_SERVICES", 2)
    large = operator_client.get(f"/api/v1/audits/{run.pk}").json()
    assert large["results"] is None
    assert "audited 5 services: read one with ?service=NAME" in large["results_note"]
    one = operator_client.get(f"/api/v1/audits/{run.pk}?service=notes").json()
    assert list(one["results"]) == ["notes"]
    assert list(one["scores"]["services"]) == ["notes"]
    unknown = operator_client.get(f"/api/v1/audits/{run.pk}?service=ghost")
    assert unknown.status_code == 422 and "ghost" in json.dumps(unknown.json())


def test_cloud_descriptions_are_read_per_account_not_per_service(db, monkeypatch):
    """A fleet audit describes a Kubernetes namespace's services with one list of each kind,
    however many services it holds (no read of each Deployment)."""
    from fleet.models import CloudAccount
    from fleet.operations.clouds.credentials import EMULATOR_ENV
    from tests.fakes.kubernetes import FakeKubernetes

    monkeypatch.setenv(EMULATOR_ENV, "1")

    def deployment_reads(size: int) -> list[str]:
        Service.objects.all().delete()
        with FakeKubernetes() as cluster:
            account, _ = CloudAccount.objects.update_or_create(
                name="k8s",
                defaults={"provider": "kubernetes", "namespace": "mcp",
                          "endpoint": cluster.endpoint},
            )  # fmt: skip
            for i in range(size):
                cluster.add_deployment(f"mcp-{i}", namespace="mcp")
                Service.objects.create(
                    name=f"mcp-{i}", url=f"https://mcp-{i}.example.com/mcp", account=account,
                    resource=f"mcp-{i}",
                )  # fmt: skip
            run = audit_services.create_run(actor="test", trigger="cli", enqueue=False)
            assert audit_services.execute_run(run).status == "succeeded"
            found = run.results.get(service_name="mcp-1", rule_id="reliability.multiple-replicas")
            assert "Kubernetes API read Deployment" in str(found.evidence)
            return [r.path for r in cluster.requests if "/deployments" in r.path]

    assert deployment_reads(2) == deployment_reads(7)
