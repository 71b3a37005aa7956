"""Cloud Run services: audit verdicts from the project's IAM policy and audit-log settings
(Resource Manager getIamPolicy), the service's own log entries (Cloud Logging entries.list),
its request metrics (Cloud Monitoring), its description (CMEK, volumes) and the platform's
documented shutdown contract. Each API is a strict local fake speaking its REST/gRPC shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.audits.readers.cloud_armor import COMPUTE_ENDPOINT_ENV
from checks.audits.readers.cloudrun import LOGGING_ENDPOINT_ENV, RESOURCE_MANAGER_ENDPOINT_ENV
from checks.audits.readers.cloudrun_usage import CPU_UTILIZATION, MEMORY_UTILIZATION
from fleet.budgets.clients import GCP_MONITORING_ENDPOINT_ENV
from fleet.costs.usage import REQUEST_COUNT
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.fakes.cloudrun import FakeCloudRun
from tests.fakes.compute import FakeCompute
from tests.fakes.gcp_logging import FakeCloudLogging, FakeResourceManager
from tests.fakes.monitoring import FakeMonitoring, SeededSeries

pytestmark = pytest.mark.django_db
PROJECT = "demo-project"
NOTES_SA = "notes@demo-project.iam.gserviceaccount.com"
FILES_SA = "files@demo-project.iam.gserviceaccount.com"


@pytest.fixture
def google(monkeypatch) -> Iterator[dict]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with (
        FakeCloudRun() as run,
        FakeCloudLogging() as logging_,
        FakeResourceManager() as crm,
        FakeMonitoring() as monitoring,
        FakeCompute() as compute,
    ):
        monkeypatch.setenv(COMPUTE_ENDPOINT_ENV, compute.endpoint)
        monkeypatch.setenv(LOGGING_ENDPOINT_ENV, logging_.endpoint)
        monkeypatch.setenv(RESOURCE_MANAGER_ENDPOINT_ENV, crm.endpoint)
        monkeypatch.setenv(GCP_MONITORING_ENDPOINT_ENV, monitoring.endpoint)
        run.add_service("mcp-notes", service_account=NOTES_SA, public=False)
        files = run.add_service("mcp-files", service_account=FILES_SA, public=False)
        template = run.services[files]["template"]
        template["encryptionKey"] = f"projects/{PROJECT}/locations/us/keyRings/r/cryptoKeys/files"
        template["volumes"] = [{"name": "db", "cloudSqlInstance": {"instances": [f"{PROJECT}:us:files"]}}]  # fmt: skip
        crm.set_policy(
            PROJECT,
            {
                "roles/datastore.user": [f"serviceAccount:{NOTES_SA}"],
                "roles/editor": [f"serviceAccount:{FILES_SA}", "user:ops@example.com"],
            },
            audit_configs={"allServices": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]},
        )
        logging_.add_entries(PROJECT, "mcp-notes", [{"message": "called", "tool": "add"}] * 40)
        logging_.add_entries(
            PROJECT, "mcp-notes", ["GET /mcp 200"] * 3, log="run.googleapis.com/requests"
        )
        logging_.add_entries(PROJECT, "mcp-files", ["listing /srv", "done"] * 10)
        now = timezone.now()
        monitoring.seed(
            SeededSeries(
                REQUEST_COUNT,
                {"service_name": "mcp-notes", "location": "us-central1"},
                [(now - timedelta(days=1, hours=1), now - timedelta(days=1), 1200)],
                value_type="INT64",
            )
        )
        yield {"run": run, "logging": logging_, "crm": crm, "monitoring": monitoring,
               "compute": compute}  # fmt: skip


@pytest.fixture
def services(google) -> dict[str, Service]:
    account = CloudAccount.objects.create(
        name="gcp", provider="gcp", project=PROJECT, region="us-central1",
        endpoint=google["run"].endpoint,
    )  # fmt: skip
    return {
        name: Service.objects.create(
            name=name,
            url=f"https://{name}.example.com/mcp",
            account=account,
            resource=f"mcp-{name}",
            environment="production",
        )  # fmt: skip
        for name in ("notes", "files")
    }


def verdicts(run, service: str) -> dict:
    return {r.rule_id: r for r in run.results.filter(service_name=service)}


def test_cloud_run_rules_decide_from_google_apis(services, google, run_audit):
    run = run_audit()
    notes, files = verdicts(run, "notes"), verdicts(run, "files")

    logs = notes["observability.structured-logging"]
    assert logs.status == "pass" and "40 of 40 recent entries were jsonPayload" in str(
        logs.evidence
    )
    assert files["observability.structured-logging"].status == "fail"
    assert notes["compliance.audit-logging"].status == "pass"
    assert "Resource Manager API projects.getIamPolicy" in str(
        notes["compliance.audit-logging"].evidence
    )
    iam = files["security.least-privilege-review"]
    assert iam.status == "fail" and "roles/editor on the project" in str(iam.evidence)
    assert notes["security.least-privilege-review"].status == "pass"
    shutdown = notes["reliability.graceful-shutdown"]
    assert shutdown.status == "pass" and "container runtime contract" in str(shutdown.evidence)
    assert notes["observability.metrics"].status == "pass"
    assert notes["cost.unused-resources"].status == "pass"
    assert "1200 requests" in notes["cost.unused-resources"].message
    assert files["cost.unused-resources"].status == "warning"
    assert notes["compliance.encryption-at-rest"].status == "pass"
    assert "Google-managed" in str(notes["compliance.encryption-at-rest"].evidence)
    cmek = files["compliance.encryption-at-rest"]
    assert cmek.status == "pass" and "cryptoKeys/files" in cmek.message
    assert notes["reliability.backup-restore"].status == "not_applicable"
    assert files["reliability.backup-restore"].status == "needs_attestation"
    # The fakes saw the calls the real APIs get, once per project for the IAM policy.
    assert len(google["crm"].requests_to("POST", ":getIamPolicy")) == 1
    [body] = [
        r.body for r in google["logging"].requests_to("POST") if "mcp-notes" in r.body["filter"]
    ]
    assert body["resourceNames"] == [f"projects/{PROJECT}"] and body["orderBy"] == "timestamp desc"


def test_audit_logs_with_only_admin_activity_fail(services, google, run_audit):
    google["crm"].set_policy(PROJECT, {"roles/viewer": [f"serviceAccount:{NOTES_SA}"]})

    result = verdicts(run_audit(), "notes")["compliance.audit-logging"]

    assert result.status == "fail"
    assert "Data Access logs are off" in str(result.evidence)


def test_a_refused_iam_policy_leaves_its_rules_open_with_the_reason(services, google, run_audit):
    google["crm"].policies.clear()

    results = verdicts(run_audit(), "notes")

    for rule in ("compliance.audit-logging", "security.least-privilege-review"):
        assert results[rule].status in ("no_evidence", "needs_attestation"), rule
        assert "403" in results[rule].message
    assert results["observability.structured-logging"].status == "pass"


def _throttle(count: int, *, preview: bool = False) -> dict:
    # SecurityPolicyRule with action "throttle" and rateLimitOptions
    # (https://cloud.google.com/compute/docs/reference/rest/v1/securityPolicies).
    return {"priority": 1000, "action": "throttle", "preview": preview,
            "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
            "rateLimitOptions": {"conformAction": "allow", "exceedAction": "deny(429)",
                                 "enforceOnKey": "IP",
                                 "rateLimitThreshold": {"count": count, "intervalSec": 60}}}  # fmt: skip


def test_rate_limiting_reads_cloud_armor_on_the_load_balancer_in_front(services, google, run_audit):
    compute = google["compute"]
    neg = compute.add_serverless_neg(PROJECT, "us-central1", "notes-neg", "mcp-notes")
    files_neg = compute.add_serverless_neg(PROJECT, "us-central1", "files-neg", "mcp-files")
    compute.add_security_policy(PROJECT, "edge", [_throttle(100)])
    compute.add_security_policy(PROJECT, "trial", [_throttle(5, preview=True)])
    compute.add_backend_service(PROJECT, "notes-backend", [neg], security_policy="edge")
    compute.add_backend_service(PROJECT, "files-backend", [files_neg], security_policy="trial")
    compute.add_backend_service(PROJECT, "unused-backend", [])

    run = run_audit()
    notes = verdicts(run, "notes")["security.rate-limiting"]
    files = verdicts(run, "files")["security.rate-limiting"]

    assert notes.status == "pass"
    assert "rule 1000 throttle above 100 requests per 60 s per IP" in str(notes.evidence)
    assert files.status == "fail"  # a preview rule only logs
    assert "preview only: logged, not enforced" in str(files.evidence)
    # One aggregatedList per collection for the project, not one per service.
    assert [r.path.rsplit("/", 1)[-1] for r in compute.requests] == [
        "networkEndpointGroups", "backendServices", "securityPolicies"]  # fmt: skip


def test_cloud_armor_pages_and_refusals(services, google, run_audit):
    compute = google["compute"]
    for i in range(3):  # NEGs of other services fill the first pages
        compute.add_serverless_neg(PROJECT, "europe-west1", f"other-{i}", f"other-{i}")
    neg = compute.add_serverless_neg(PROJECT, "us-central1", "notes-neg", "mcp-notes")
    compute.add_security_policy(PROJECT, "edge", [])
    compute.add_backend_service(PROJECT, "notes-backend", [neg], security_policy="edge")
    compute.page_size = 2

    run = run_audit()
    bare = verdicts(run, "notes")["security.rate-limiting"]
    assert bare.status == "fail"
    assert "has no throttle or rate_based_ban rule" in str(bare.evidence)
    assert len(compute.requests_to("GET", "networkEndpointGroups")) == 2  # both pages
    direct = verdicts(run, "files")["security.rate-limiting"]
    assert direct.status not in {"pass", "fail"}  # nothing in front: no guess
    assert "no serverless network endpoint group points at it" in direct.message

    compute.deny(PROJECT, "compute.backendServices.list")
    refused = verdicts(run_audit(), "notes")["security.rate-limiting"]
    assert refused.status not in {"pass", "fail"}
    assert "permission compute.backendServices.list missing" in refused.message


def test_a_url_mask_neg_puts_cloud_armor_in_front_of_every_service_it_can_name(
    services, google, run_audit
):
    # One NEG with urlMask "<service>.run.example.com" serves every Cloud Run service of its
    # region (https://cloud.google.com/load-balancing/docs/negs/serverless-neg-concepts#url_masks).
    compute = google["compute"]
    masked = compute.add_serverless_neg(
        PROJECT, "us-central1", "all-run", url_mask="<service>.run.example.com"
    )
    elsewhere = compute.add_serverless_neg(
        PROJECT, "europe-west1", "eu-run", url_mask="<service>.eu.example.com"
    )
    compute.add_security_policy(PROJECT, "edge", [_throttle(100)])
    compute.add_backend_service(PROJECT, "run-backend", [masked], security_policy="edge")
    compute.add_backend_service(PROJECT, "eu-backend", [elsewhere])

    run = run_audit()
    for name in ("notes", "files"):  # both in us-central1
        limit = verdicts(run, name)["security.rate-limiting"]
        assert limit.status == "pass", name
        assert "URL mask <service>.run.example.com of serverless NEG all-run" in str(limit.evidence)
        assert "eu-backend" not in str(limit.evidence)  # another region's NEG reaches none


def _utilization(metric: str, service: str, revision: str, counts: list[int]) -> SeededSeries:
    """A DELTA DISTRIBUTION series of utilization (fraction of the limit) for one revision,
    buckets 0-0.1, 0.1-0.2, ... 0.9-1.0 as Cloud Run reports them."""
    now = timezone.now()
    bounds = [round(0.1 * i, 1) for i in range(1, 11)]
    return SeededSeries(
        metric, {"service_name": service, "revision_name": revision, "location": "us-central1"},
        [(now - timedelta(days=2, minutes=1), now - timedelta(days=2), [*counts, 0])],
        value_type="DISTRIBUTION", bounds=bounds, unit="10^2.%",
    )  # fmt: skip


def test_right_sizing_compares_utilization_distributions_with_the_limits(
    services, google, run_audit
):
    monitoring = google["monitoring"]
    cpu, memory = CPU_UTILIZATION, MEMORY_UTILIZATION
    # notes: idle (every sample under 10 % of the limit); files: two revisions, the busier
    # one near its memory limit (REDUCE_MAX over revisions).
    monitoring.seed(
        _utilization(cpu, "mcp-notes", "mcp-notes-001", [50, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    )
    monitoring.seed(
        _utilization(memory, "mcp-notes", "mcp-notes-001", [80, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    )
    monitoring.seed(
        _utilization(cpu, "mcp-files", "mcp-files-001", [0, 0, 10, 40, 0, 0, 0, 0, 0, 0])
    )
    monitoring.seed(
        _utilization(memory, "mcp-files", "mcp-files-001", [0, 0, 0, 10, 10, 0, 0, 0, 0, 0])
    )
    monitoring.seed(
        _utilization(memory, "mcp-files", "mcp-files-002", [0, 0, 0, 0, 0, 0, 0, 0, 10, 90])
    )

    run = run_audit()
    notes, files = verdicts(run, "notes"), verdicts(run, "files")

    idle = notes["cost.right-sizing"]
    assert idle.status == "warning", idle.message
    assert "under 20% of the reserved CPU and memory" in idle.message
    assert "p99 over 7 days" in idle.message and "cpu p99 10% of the" in str(idle.evidence)
    assert notes["performance.resource-limits"].status == "pass"
    tight = files["performance.resource-limits"]
    assert tight.status == "warning" and "memory" in tight.message
    assert "memory p99 100% of the" in str(tight.evidence)
    # Two calls for the whole project (one per metric), grouped by service.
    usage_calls = [r for r in monitoring.requests if "utilizations" in r.filter]
    assert len(usage_calls) == 2
    assert list(usage_calls[0].aggregation.group_by_fields) == ["resource.labels.service_name"]
