"""Cloud Run log and traffic evidence read per project, not per service: many services in few
calls to the strict Cloud Logging and Cloud Monitoring fakes, a quiet service among chatty ones,
the Logging read quota (429 RESOURCE_EXHAUSTED) and pagination.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from checks.audits.readers import cloudrun_logs
from checks.audits.readers.cloud_armor import COMPUTE_ENDPOINT_ENV
from checks.audits.readers.cloudrun import LOGGING_ENDPOINT_ENV, RESOURCE_MANAGER_ENDPOINT_ENV
from checks.audits.readers.cloudrun_traffic import read_request_counts
from fleet.budgets.clients import GCP_MONITORING_ENDPOINT_ENV
from fleet.costs.usage import REQUEST_COUNT, metric_client
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.cloudrun import FakeCloudRun
from tests.fakes.compute import FakeCompute
from tests.fakes.gcp_logging import FakeCloudLogging, FakeResourceManager
from tests.fakes.monitoring import FakeMonitoring, SeededSeries

PROJECT = "scale-project"
JSON_LINE = {"message": "tool call", "tool": "search"}


def _requests(monitoring: FakeMonitoring, service: str, count: int) -> SeededSeries:
    now = timezone.now()
    return SeededSeries(
        REQUEST_COUNT,
        {"service_name": service, "revision_name": f"{service}-001", "location": "us-central1"},
        [(now - timedelta(days=2, hours=1), now - timedelta(days=2), count)],
        metric_labels={"response_code_class": "2xx"},
        value_type="INT64",
    )


@pytest.fixture
def logging_fake() -> Iterator[FakeCloudLogging]:
    with FakeCloudLogging() as fake:
        yield fake


def _read(fake: FakeCloudLogging, names: list[str]) -> dict:
    with requests.Session() as session:
        return cloudrun_logs.read_project(session, fake.endpoint, PROJECT, names, timezone.now())


@pytest.mark.django_db
def test_a_project_s_services_are_read_in_one_logging_and_one_monitoring_call(
    monkeypatch, run_audit
):
    # Given eight Cloud Run services of one project: JSON loggers, text loggers, a silent one,
    # and one whose only entries are older than the window; some served requests.
    monkeypatch.setenv(EMULATOR_ENV, "1")
    names = [f"mcp-s{i:02d}" for i in range(8)]
    with (
        FakeCloudRun() as run,
        FakeCloudLogging() as logs,
        FakeResourceManager() as crm,
        FakeMonitoring() as monitoring,
        FakeCompute() as compute,
    ):
        for key, fake in ((COMPUTE_ENDPOINT_ENV, compute), (LOGGING_ENDPOINT_ENV, logs),
                          (RESOURCE_MANAGER_ENDPOINT_ENV, crm),
                          (GCP_MONITORING_ENDPOINT_ENV, monitoring)):  # fmt: skip
            monkeypatch.setenv(key, fake.endpoint)
        crm.set_policy(PROJECT, {"roles/viewer": ["user:ops@example.com"]})
        account = CloudAccount.objects.create(
            name="gcp", provider="gcp", project=PROJECT, region="us-central1",
            endpoint=run.endpoint,
        )  # fmt: skip
        for i, name in enumerate(names):
            run.add_service(name, project=PROJECT, public=False)
            Service.objects.create(
                name=name, url=f"https://{name}.example.com/mcp", account=account,
                resource=name, environment="production",
            )  # fmt: skip
            if i < 6:
                logs.add_entries(PROJECT, name, [JSON_LINE] * 5 if i % 2 else ["plain"] * 5)
            if i % 3 == 0:
                monitoring.seed(_requests(monitoring, name, 100 + i))
                monitoring.seed(_requests(monitoring, name, 1))  # a second revision
        old = timezone.now() - timedelta(days=cloudrun_logs.LOG_DAYS + 1)
        logs.add_entries(PROJECT, names[6], [JSON_LINE] * 5, at=old)

        audit = run_audit()

    # Then one entries.list and one request_count timeSeries.list served all eight.
    [listed] = logs.requests_to("POST", "entries:list")
    assert all(f'"{name}"' in listed.body["filter"] for name in names)
    assert 'timestamp >= "' in listed.body["filter"]
    counted = [r for r in monitoring.requests if "request_count" in r.filter]
    assert len(counted) == 1
    assert list(counted[0].aggregation.group_by_fields) == ["resource.labels.service_name"]
    results = {(r.service_name, r.rule_id): r for r in audit.results.all()}
    logging_rule, unused = "observability.structured-logging", "cost.unused-resources"
    assert results[(names[1], logging_rule)].status == "pass"
    assert "5 of 5 recent entries were jsonPayload" in str(
        results[(names[1], logging_rule)].evidence
    )
    assert results[(names[2], logging_rule)].status == "fail"
    for silent in (names[6], names[7]):  # nothing in the window: no verdict either way
        assert results[(silent, logging_rule)].status not in ("pass", "fail")
        assert "no log entries from the service in 7 days" in str(
            results[(silent, logging_rule)].evidence
        )
    assert "101 requests" in results[(names[0], unused)].message  # both revisions summed
    assert results[(names[0], unused)].status == "pass"
    assert results[(names[1], unused)].status == "warning"  # no series: no requests in 7 days


def test_a_quiet_service_among_chatty_ones_is_read_again_without_them(monkeypatch, logging_fake):
    # Given three chatty services whose newest entries fill every page, and a quiet one that
    # logged text a while before them.
    monkeypatch.setattr(cloudrun_logs, "PAGE_SIZE", 20)
    logging_fake.add_entries(PROJECT, "quiet", ["started", "listening"])
    for name in ("chatty-a", "chatty-b", "chatty-c"):
        logging_fake.add_entries(PROJECT, name, [JSON_LINE] * 60)

    found = _read(logging_fake, ["chatty-a", "chatty-b", "chatty-c", "quiet"])

    # Then each round drops the services already settled and the quiet one is decided too.
    assert found["quiet"].value is False
    assert found["quiet"].summary == "0 of 2 recent entries were jsonPayload"
    for name in ("chatty-a", "chatty-b", "chatty-c"):
        assert found[name].value is True
        assert found[name].summary == "50 of 50 recent entries were jsonPayload"
    filters = [r.body["filter"] for r in logging_fake.requests_to("POST")]
    assert '"chatty-c"' not in filters[-1] and '"quiet"' in filters[-1]
    assert len(filters) <= cloudrun_logs.MAX_ROUNDS * cloudrun_logs.MAX_PAGES


def test_a_service_the_bounded_read_never_reached_gets_no_evidence_saying_what_was_read(
    monkeypatch, logging_fake
):
    monkeypatch.setattr(cloudrun_logs, "PAGE_SIZE", 20)
    logging_fake.add_entries(PROJECT, "quiet", [JSON_LINE])
    chatty = [f"chatty-{i}" for i in range(5)]
    for name in chatty:
        logging_fake.add_entries(PROJECT, name, [JSON_LINE] * 60)

    found = _read(logging_fake, [*chatty, "quiet"])

    assert isinstance(found["quiet"], str) and found["quiet"].startswith("no evidence: ")
    assert "pages of entries.list" in found["quiet"] and "none from this service" in found["quiet"]
    assert isinstance(found["chatty-0"], str)  # the oldest chatty one was not reached either
    assert found["chatty-4"].value is True
    assert len(logging_fake.requests) == cloudrun_logs.MAX_ROUNDS * cloudrun_logs.MAX_PAGES


def test_logging_pages_are_followed_to_the_end(monkeypatch, logging_fake):
    monkeypatch.setattr(cloudrun_logs, "PAGE_SIZE", 20)
    for name in ("a-svc", "b-svc", "c-svc"):
        logging_fake.add_entries(PROJECT, name, [JSON_LINE] * 15)

    found = _read(logging_fake, ["a-svc", "b-svc", "c-svc", "d-svc"])

    bodies = [r.body for r in logging_fake.requests_to("POST")]
    assert [b.get("pageToken", "") for b in bodies] == ["", "20", "40"]
    for name in ("a-svc", "b-svc", "c-svc"):
        assert found[name].summary == "15 of 15 recent entries were jsonPayload"
    assert found["d-svc"].value is None  # every page read: truly silent in the window


def test_a_logging_quota_refusal_is_retried_after_a_pause(monkeypatch, logging_fake):
    # Given services spread over two calls, one read allowed per 0.2 s, a retry after 0.3 s.
    monkeypatch.setattr(cloudrun_logs, "CHUNK_SERVICES", 2)
    monkeypatch.setattr(cloudrun_logs, "QUOTA_RETRY_S", (0.3,))
    for name in ("one-svc", "two-svc", "three-svc", "four-svc"):
        logging_fake.add_entries(PROJECT, name, [JSON_LINE] * 3)
    logging_fake.read_quota, logging_fake.quota_window_s = 1, 0.2

    found = _read(logging_fake, ["one-svc", "two-svc", "three-svc", "four-svc"])
    assert all(found[n].value is True for n in found)
    assert len(logging_fake.requests) == 3  # two reads and one refusal


def test_an_exceeded_logging_read_quota_is_named_never_a_verdict(monkeypatch, logging_fake):
    # Given services spread over two calls and a project allowed one read a minute.
    monkeypatch.setattr(cloudrun_logs, "CHUNK_SERVICES", 2)
    monkeypatch.setattr(cloudrun_logs, "QUOTA_RETRY_S", (0.01,))
    for name in ("one-svc", "two-svc", "three-svc", "four-svc"):
        logging_fake.add_entries(PROJECT, name, [JSON_LINE] * 3)
    logging_fake.read_quota = 1

    found = _read(logging_fake, ["one-svc", "two-svc", "three-svc", "four-svc"])

    # Then the services of the refused call name the quota; the read ones keep their verdict.
    assert found["one-svc"].value is True
    for name in ("three-svc", "four-svc"):
        assert found[name].startswith("no evidence: the Cloud Logging read quota")
        assert "429 RESOURCE_EXHAUSTED" in found[name]
        assert "60 entries.list requests per minute per project" in found[name]


def test_chunks_fit_the_filter_length_limit(monkeypatch, logging_fake):
    monkeypatch.setattr(cloudrun_logs, "CHUNK_SERVICES", 10_000)
    names = [f"s{i:04d}-" + "x" * 56 for i in range(700)]  # 63 characters, the longest allowed
    since = "2026-11-23T00:00:00Z"

    groups = list(cloudrun_logs.chunks(names, since))

    assert len(groups) > 1 and sum(len(g) for g in groups) == len(names)
    assert all(len(cloudrun_logs.log_filter(g, since)) <= 20_000 for g in groups)
    hostile = 'bad" OR "x'
    assert "not a Cloud Run service name" in _read(logging_fake, [hostile])[hostile]
    assert logging_fake.requests == []  # never put into a filter


def test_request_counts_follow_monitoring_pages():
    with FakeMonitoring() as monitoring:
        monitoring.page_size = 2
        for i in range(5):
            monitoring.seed(_requests(monitoring, f"svc-{i}", 10 * i))
        elsewhere = _requests(monitoring, "svc-1", 5000)  # the same name in another project
        elsewhere.resource_labels["project_id"] = "other-project"
        monitoring.seed(elsewhere)
        client = metric_client(endpoint=monitoring.endpoint)
        counts = read_request_counts(client, PROJECT, timezone.now())

    assert counts == {f"svc-{i}": 10 * i for i in range(5)}
    assert [r.page_token for r in monitoring.requests] == ["", "2", "4"]


def test_a_refused_log_read_names_the_missing_permission(logging_fake):
    logging_fake.add_entries(PROJECT, "one-svc", [JSON_LINE])
    logging_fake.fail_next(
        403,
        message="Permission 'logging.logEntries.list' denied on resource (or it may not exist).",
    )

    found = _read(logging_fake, ["one-svc"])

    assert isinstance(found["one-svc"], str) and "403" in found["one-svc"]
    assert "needs logging.logEntries.list (roles/logging.viewer)" in found["one-svc"]
