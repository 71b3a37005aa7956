"""Cloud-derived rules read the real adapter (Cloud Run client over HTTP to the strict fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checks.audits import services as audit_services
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.cloudrun import FakeCloudRun


@pytest.fixture
def cloud_run(monkeypatch) -> Iterator[FakeCloudRun]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeCloudRun() as fake:
        fake.add_service(
            "mcp-weather",
            env={"LOG_LEVEL": "info", "OPENAI_API_KEY": "sk-live-0123456789abcdef0123456789"},
            min_instances=0,
            max_instances=10,
        )
        yield fake


@pytest.fixture
def weather(db, cloud_run) -> Service:
    account = CloudAccount.objects.create(
        name="gcp-fake",
        provider="gcp",
        project="demo-project",
        region="us-central1",
        endpoint=cloud_run.endpoint,
    )
    return Service.objects.create(
        name="weather",
        url="https://weather.example.com/mcp",
        account=account,
        resource="mcp-weather",
        environment="production",
    )


def test_cloud_rules_decide_from_the_description(weather, admin_user, cloud_run, run_audit):
    audit_services.update_policy(
        actor=admin_user, source="ui", changes={"allowed_regions": ["europe-*"]}
    )
    run = run_audit(weather)
    results = {r.rule_id: r for r in run.results.all()}

    secrets = results["security.secrets-in-secret-manager"]
    assert secrets.status == "fail" and "OPENAI_API_KEY" in secrets.message
    residency = results["compliance.data-residency"]
    assert residency.status == "fail" and "us-central1" in residency.message
    replicas = results["reliability.multiple-replicas"]
    assert replicas.status == "fail"
    sources = {e["source"] for e in residency.evidence}
    assert any(s.startswith("Cloud Run Admin API services.get") for s in sources)
    assert all(e["observed_at"] for e in residency.evidence if "Cloud Run" in e["source"])
    assert any("/services/mcp-weather" in r.path for r in cloud_run.requests)


def test_a_failing_cloud_read_means_no_evidence_not_a_guess(weather, cloud_run, run_audit):
    Service.objects.filter(pk=weather.pk).update(resource="mcp-missing")
    run = run_audit(Service.objects.get(pk=weather.pk))
    assert run.status == "succeeded"
    for rule_id in (
        "compliance.data-residency",
        "security.secrets-in-secret-manager",
        "reliability.multiple-replicas",
        "performance.resource-limits",
    ):
        result = run.results.get(rule_id=rule_id)
        assert result.status in ("no_evidence", "not_applicable"), rule_id
    assert (
        "No cloud description was read"
        in run.results.get(rule_id="security.secrets-in-secret-manager").message
    )


def test_the_reason_the_cloud_read_failed_is_shown(weather, cloud_run, run_audit):
    Service.objects.filter(pk=weather.pk).update(resource="mcp-missing")
    run = run_audit(Service.objects.get(pk=weather.pk))
    message = run.results.get(rule_id="security.secrets-in-secret-manager").message
    assert "Cloud Run Admin API services.get read failed" in message
    assert "mcp-missing" in message or "404" in message or "NotFound" in message
    card = run.service_scores.get(service_name="weather")
    sources = {item["label"]: item["value"] for item in card.sources}
    assert sources["cloud description"].startswith(
        "not read: the Cloud Run Admin API services.get read failed"
    )


def test_a_plain_url_service_says_it_has_no_cloud(fleet, run_audit):
    run = run_audit(fleet[0])
    message = run.results.get(rule_id="performance.resource-limits").message
    assert message == (
        "No cloud description was read for this service: "
        "it is a plain URL service, not linked to a cloud."
    )
