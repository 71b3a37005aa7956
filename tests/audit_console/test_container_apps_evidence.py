"""Container Apps: who can connect is decided from the app's ingress and its
ipSecurityRestrictions, read through the Container Apps API (the strict HTTPS fake)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_CA_ENV, EMULATOR_ENV
from tests.fakes.azure_arm import FakeArm
from tests.fakes.container_apps import FakeContainerApps

pytestmark = pytest.mark.django_db
SUB = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def arm(tmp_path: Path, monkeypatch) -> Iterator[FakeContainerApps]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeContainerApps() as fake:
        ca = tmp_path / "arm.pem"
        ca.write_bytes(fake.cert_pem)
        monkeypatch.setenv(EMULATOR_CA_ENV, str(ca))
        fenced = fake.add_app("mcp-notes", external=True)
        # https://learn.microsoft.com/en-us/azure/container-apps/ip-restrictions
        fake.apps[fenced.lower()]["properties"]["configuration"]["ingress"][
            "ipSecurityRestrictions"
        ] = [{"name": "office", "ipAddressRange": "203.0.113.0/24", "action": "Allow"}]
        fake.add_app("mcp-open", external=True, termination_grace_s=3)
        fake.add_app("mcp-internal", external=False)
        yield fake


@pytest.fixture
def services(request) -> dict[str, Service]:
    fake = request.getfixturevalue("arm_world" if "arm_world" in request.fixturenames else "arm")
    account = CloudAccount.objects.create(
        name="azure", provider="azure", subscription=SUB, resource_group="mcp-rg",
        endpoint=fake.endpoint,
    )  # fmt: skip
    return {
        name: Service.objects.create(
            name=name,
            url=f"https://{name}.example.com/mcp",
            account=account,
            resource=f"mcp-{name}",
            environment="production",
        )  # fmt: skip
        for name in ("notes", "open", "internal")
    }


def test_ingress_and_ip_restrictions_decide_network_rules(services, run_audit):
    run = run_audit()
    rule = "security.network-restricted"
    results = {r.service_name: r for r in run.results.filter(rule_id=rule)}

    assert results["internal"].status == "pass"
    open_ = results["open"]
    assert open_.status == "fail" and "anyone on the internet" in open_.message
    fenced = results["notes"]
    assert fenced.status == "pass"  # external, but only an office range may connect
    assert "office (Allow 203.0.113.0/24)" in str(fenced.evidence)
    reach = run.results.get(rule_id="infrastructure.ingress-configured", service_name="open")
    assert reach.status == "pass" and "external ingress" in str(reach.evidence)


def test_an_app_tagged_public_may_be_open(services, run_audit):
    Service.objects.filter(name="open").update(tags=["public"])

    result = run_audit().results.get(rule_id="security.network-restricted", service_name="open")

    assert result.status == "pass" and "by design" in result.message


def test_graceful_shutdown_reads_the_template_grace_period(services, run_audit):
    run = run_audit()
    rule = "reliability.graceful-shutdown"

    short = run.results.get(rule_id=rule, service_name="open")
    assert short.status == "fail" and "3 s between SIGTERM and SIGKILL" in short.message
    default = run.results.get(rule_id=rule, service_name="notes")
    # 30 s by default, but nothing stops routing before SIGTERM and there is no preStop hook.
    assert default.status == "warning"
    assert "terminationGracePeriodSeconds 30 (the default)" in str(default.evidence)


@pytest.fixture
def arm_world(tmp_path: Path, monkeypatch) -> Iterator[FakeArm]:
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeArm() as fake:
        ca = tmp_path / "arm.pem"
        ca.write_bytes(fake.cert_pem)
        monkeypatch.setenv(EMULATOR_CA_ENV, str(ca))
        for name in ("mcp-notes", "mcp-open", "mcp-internal"):
            fake.add_app(name)
        yield fake


def test_role_assignments_and_request_metrics_of_the_app(arm_world, services, run_audit):
    """Least privilege from the managed identity's role assignments (Owner/Contributor are
    broad), unused resources and metrics from Azure Monitor's Requests: one roleAssignments,
    one roleDefinitions and one metrics call for the whole subscription."""
    arm = arm_world
    app = {n: f"/subscriptions/{SUB}/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps/"
           f"mcp-{n}" for n in ("notes", "open", "internal")}  # fmt: skip
    arm.define("notes-table-reader", ["Microsoft.Storage/storageAccounts/tableServices/read"])
    arm.assign(SUB, arm.principal_of(app["notes"]), "notes-table-reader",
               scope=f"/subscriptions/{SUB}/resourceGroups/mcp-rg")  # fmt: skip
    arm.assign(SUB, arm.principal_of(app["open"]), "Contributor")
    now = datetime.now(UTC)
    arm.add_requests(app["notes"], [(now - timedelta(days=d), 40.0) for d in (1, 2)])
    arm.add_requests(app["open"], [(now - timedelta(days=30), 999.0)])  # outside the window

    run = run_audit()
    results = {(r.service_name, r.rule_id): r for r in run.results.all()}

    notes_iam = results[("notes", "security.least-privilege-review")]
    assert notes_iam.status == "pass" and "notes-table-reader on" in str(notes_iam.evidence)
    files_iam = results[("open", "security.least-privilege-review")]
    assert files_iam.status == "fail"
    assert f"Contributor on /subscriptions/{SUB} (*)" in str(files_iam.evidence)
    busy = results[("notes", "cost.unused-resources")]
    assert busy.status == "pass" and "80 requests" in busy.message
    assert results[("open", "cost.unused-resources")].status == "warning"
    assert results[("notes", "observability.metrics")].status == "pass"
    assert len(arm.requests_to("GET", "/roleAssignments")) == 1
    [metrics] = arm.requests_to("GET", "/Microsoft.Insights/metrics")  # Requests and CPU/memory
    assert metrics.query["region"] == "westeurope" and metrics.query["top"] == "1000"
    assert metrics.query["metricnames"] == "Requests,UsageNanoCores,WorkingSetBytes"


def test_refused_role_and_metric_reads_name_the_missing_permission(arm_world, services, run_audit):
    arm_world.denied |= {"Microsoft.Authorization/roleAssignments/read",
                         "Microsoft.Insights/metrics/read"}  # fmt: skip

    results = {r.rule_id: r for r in run_audit().results.filter(service_name="notes")}

    iam = results["security.least-privilege-review"]
    assert iam.status not in {"pass", "fail"}
    assert "permission Microsoft.Authorization/roleAssignments/read missing (403" in iam.message
    unused = results["cost.unused-resources"]
    assert unused.status == "no_evidence"
    assert "permission Microsoft.Insights/metrics/read missing (403" in unused.message


def test_audit_logging_reads_the_activity_logs_export(arm_world, services, run_audit):
    bare = run_audit().results.get(rule_id="compliance.audit-logging", service_name="notes")
    assert bare.status == "fail" and "no diagnostic setting exports" in str(bare.evidence)

    arm_world.export_activity_log(SUB, "to-workspace", {"Administrative": True, "Policy": False})
    kept = run_audit().results.get(rule_id="compliance.audit-logging", service_name="notes")
    assert kept.status == "pass" and "exported by to-workspace" in str(kept.evidence)
    assert len(arm_world.requests_to("GET", "/diagnosticSettings")) == 2  # once per run

    arm_world.denied.add("Microsoft.Insights/diagnosticSettings/read")
    refused = run_audit().results.get(rule_id="compliance.audit-logging", service_name="notes")
    assert refused.status == "no_evidence"
    assert "permission Microsoft.Insights/diagnosticSettings/read missing" in refused.message


def _app_id(name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps/{name}"
    )


def test_cpu_and_memory_peaks_are_compared_with_the_allocation(arm_world, services, run_audit):
    """UsageNanoCores / WorkingSetBytes daily Maximum against template resources (0.5 cores,
    1Gi): an idle app is flagged with its figures, a busy one passes, one without points has
    no evidence and says why."""
    now = datetime.now(UTC)
    days = [now - timedelta(days=d, hours=1) for d in range(6)]
    mib = 1024**2
    arm_world.add_usage(_app_id("mcp-notes"), cpu_cores=[(t, 0.02) for t in days],
                        memory_bytes=[(t, 90 * mib) for t in days])  # fmt: skip
    arm_world.add_usage(_app_id("mcp-open"), cpu_cores=[(days[0], 0.1), (days[3], 0.3)],
                        memory_bytes=[(days[1], 500 * mib)])  # fmt: skip

    run = run_audit()
    results = {(r.service_name, r.rule_id): r for r in run.results.all()}

    idle = results[("notes", "cost.right-sizing")]
    assert idle.status == "warning" and "under 20%" in idle.message, idle.message
    assert "cpu 0.02 of 0.5 cores (4%); memory 90Mi of 1024Mi (9%)" in str(idle.evidence)
    assert "UsageNanoCores, WorkingSetBytes" in str(idle.evidence)  # where it came from
    busy = results[("open", "cost.right-sizing")]
    assert busy.status == "pass", busy.message
    assert "cpu 0.3 of 0.5 cores (60%)" in str(busy.evidence)  # the peak, not the first day
    limits = results[("open", "performance.resource-limits")]
    assert limits.status == "pass" and "headroom" in limits.message
    silent = results[("internal", "cost.right-sizing")]
    assert silent.status == "needs_attestation"  # attestable: no evidence, so a person decides
    assert "no UsageNanoCores or WorkingSetBytes points for the app in 7 days" in silent.message
    assert len(arm_world.requests_to("GET", "/Microsoft.Insights/metrics")) == 1


def test_cpu_near_the_allocation_warns(arm_world, services, run_audit):
    now = datetime.now(UTC)
    arm_world.add_usage(_app_id("mcp-notes"), cpu_cores=[(now - timedelta(hours=3), 0.48)],
                        memory_bytes=[(now - timedelta(hours=3), 300 * 1024**2)])  # fmt: skip

    result = run_audit().results.get(rule_id="performance.resource-limits", service_name="notes")

    assert result.status == "warning" and "CPU throttling" in result.message


def test_built_in_authentication_decides_platform_auth(arm_world, services, run_audit):
    """Easy Auth enabled with Return401 refuses anonymous callers; AllowAnonymous is said as
    such; an app without authConfigs is open; one authConfigs list per app."""
    arm_world.set_auth(_app_id("mcp-notes"), action="Return401")
    arm_world.set_auth(_app_id("mcp-open"), action="AllowAnonymous", providers=("gitHub",))

    run = run_audit()
    results = {r.service_name: r for r in run.results.filter(rule_id="security.platform-auth")}

    guarded = results["notes"]
    assert guarded.status == "pass"
    assert (
        "built-in authentication answers 401 to anonymous callers (Return401; identity "
        "providers: azureActiveDirectory)" in guarded.message
    )
    anonymous = results["open"]
    assert anonymous.status in {"warning", "fail"}
    assert "unauthenticatedClientAction AllowAnonymous: anonymous callers reach the app" in str(
        anonymous.evidence
    )
    bare = results["internal"]
    assert bare.status in {"warning", "fail"}
    assert "no built-in authentication (the app lists no authConfigs)" in str(bare.evidence)
    assert len(arm_world.requests_to("GET", "/authConfigs")) == 3


def test_auth_excluded_paths_over_the_mcp_endpoint_leave_it_open(arm_world, services, run_audit):
    arm_world.set_auth(_app_id("mcp-notes"), action="Return403", excluded_paths=["/mcp/*"])

    result = run_audit().results.get(rule_id="security.platform-auth", service_name="notes")

    assert result.status != "pass"
    assert "excludedPaths /mcp/* let them reach /mcp" in str(result.evidence)


def test_refused_auth_config_read_names_the_permission(arm_world, services, run_audit):
    arm_world.fail_next(403, count=10, path_contains="/authConfigs")

    result = run_audit().results.get(rule_id="security.platform-auth", service_name="notes")

    assert result.status == "no_evidence"
    assert "permission Microsoft.App/containerApps/authConfigs/read missing (403" in result.message


def test_the_demo_container_app_is_decided_from_its_platform_history(
    tmp_path, monkeypatch, run_audit
):
    """The demo's Azure serves a week of metrics, Easy Auth, a narrow role and an exported
    activity log, so its app's audit reads as lived in rather than as read failures."""
    from fleet.demo.azure import start_demo_azure

    monkeypatch.setenv(EMULATOR_ENV, "1")
    demo = start_demo_azure(tmp_path)
    try:
        for name, value in demo.env.items():
            monkeypatch.setenv(name, value)
        account = CloudAccount.objects.create(**demo.account_spec())
        Service.objects.create(name="docs", url="https://docs.example.com/mcp", account=account,
                               resource="docs", environment="production")  # fmt: skip
        results = {r.rule_id: r for r in run_audit().results.filter(service_name="docs")}
    finally:
        demo.stop()

    for rule in ("security.platform-auth", "cost.right-sizing", "performance.resource-limits",
                 "security.least-privilege-review", "compliance.audit-logging",
                 "cost.unused-resources", "observability.metrics",
                 "observability.structured-logging", "cost.budget-coverage"):  # fmt: skip
        assert results[rule].status == "pass", (rule, results[rule].message)
    assert "answers 401" in results["security.platform-auth"].message
    budget = results["cost.budget-coverage"]
    assert budget.status == "pass" and "productivity-monthly (cloud)" in str(budget.evidence)
    backup = results["reliability.backup-restore"]
    assert backup.status == "needs_attestation" and "search-index" in str(backup.evidence)


def test_an_azure_files_volume_makes_the_app_stateful(arm_world, services, run_audit):
    """A mounted AzureFile share keeps data (backup asked for); EmptyDir and Secret volumes
    keep nothing, so backup/restore does not apply."""
    arm_world.set_volumes(_app_id("mcp-notes"), {"notes-data": "AzureFile", "tmp": "EmptyDir"})
    arm_world.set_volumes(_app_id("mcp-open"), {"scratch": "EmptyDir", "certs": "Secret"})

    run = run_audit()
    results = {r.service_name: r for r in run.results.filter(rule_id="reliability.backup-restore")}

    kept = results["notes"]
    assert kept.status == "needs_attestation" and "keeps data" in kept.message
    assert "Azure Files share volume notes-data (notes-data-share)" in str(kept.evidence)
    scratch = results["open"]
    assert scratch.status == "not_applicable", scratch.message
    assert "no Azure Files volume mounted" in str(scratch.evidence)


def test_budgets_made_in_azure_cost_management_decide_budget_coverage(
    arm_world, services, run_audit
):
    """Budgets of the subscription and of the apps' resource group are read (every page), and
    their filter decides: another team's tag or another app's id does not cover the app, its
    resource group (matched case-insensitively) does; a refused list names the permission."""
    arm_world.list_page_size = 1
    arm_world.add_budget(SUB, "payments", filter={
        "tags": {"name": "team", "operator": "In", "values": ["payments"]}})  # fmt: skip
    arm_world.add_budget(SUB, "one-app", resource_group="mcp-rg", filter={"dimensions": {
        "name": "ResourceId", "operator": "In", "values": [_app_id("mcp-open")]}})  # fmt: skip
    arm_world.add_budget(SUB, "elsewhere", filter={"and": [
        {"dimensions": {"name": "ResourceGroupName", "operator": "In", "values": ["mcp-rg"]}},
        {"dimensions": {"name": "ResourceLocation", "operator": "In", "values": ["eastus"]}},
    ]})  # fmt: skip
    rule = "cost.budget-coverage"

    run = run_audit()
    uncovered = run.results.get(rule_id=rule, service_name="notes")
    assert uncovered.status == "fail", uncovered.message
    assert "3 cloud budget(s) read, none covering it" in str(uncovered.evidence)
    assert run.results.get(rule_id=rule, service_name="open").status == "pass"
    lists = arm_world.requests_to("GET", "/Microsoft.Consumption/budgets")
    assert {r.path for r in lists} == {
        f"/subscriptions/{SUB}/providers/Microsoft.Consumption/budgets",
        f"/subscriptions/{SUB}/resourceGroups/mcp-rg/providers/Microsoft.Consumption/budgets",
    }  # once per scope for the whole run, not per app

    arm_world.add_budget(SUB, "mcp-monthly", filter={"and": [
        {"dimensions": {"name": "ResourceGroupName", "operator": "In", "values": ["MCP-RG"]}},
        {"dimensions": {"name": "ResourceLocation", "operator": "In", "values": ["westeurope"]}},
    ]})  # fmt: skip
    covered = run_audit().results.get(rule_id=rule, service_name="notes")
    assert covered.status == "pass" and "mcp-monthly (cloud)" in str(covered.evidence)
    assert "Azure Cost Management budgets" in str(covered.evidence)

    arm_world.denied.add("Microsoft.Consumption/budgets/read")
    refused = run_audit().results.get(rule_id=rule, service_name="notes")
    assert refused.status == "no_evidence"
    assert "permission Microsoft.Consumption/budgets/read missing (403)" in refused.message


def test_console_lines_in_log_analytics_decide_structured_logging(arm_world, services, run_audit):
    """The environment sends console logs to a Log Analytics workspace: one query for every
    app there; JSON lines pass, plain text fails, an app without lines has no evidence; lines
    are told apart by environment and app name."""
    environment = arm_world.environment_of(_app_id("mcp-notes"))
    arm_world.send_logs(environment, "log-analytics", "ws-0001")
    arm_world.add_console_logs(
        "ws-0001", "mcp-notes", ['{"level": "info", "msg": "tools/list"}'] * 9 + ["booting"]
    )
    arm_world.add_console_logs("ws-0001", "mcp-open", ["INFO started", "INFO tools/list"],
                               table="ContainerAppConsoleLogs")  # fmt: skip
    # Another environment sharing the workspace runs an app of the same name: not this one.
    arm_world.add_console_logs("ws-0001", "mcp-notes", ["plain"] * 30, environment="other-env")
    rule = "observability.structured-logging"

    results = {r.service_name: r for r in run_audit().results.filter(rule_id=rule)}

    assert results["notes"].status == "pass", results["notes"].message
    assert "9 of 10 recent console lines were JSON objects" in str(results["notes"].evidence)
    assert "Log Analytics query of workspace ws-0001" in str(results["notes"].evidence)
    assert results["open"].status == "fail"
    assert "0 of 2 recent console lines" in str(results["open"].evidence)
    silent = results["internal"]
    assert silent.status == "no_evidence" and "no console log lines" in silent.message
    [query] = arm_world.requests_to("POST", "/v1/workspaces/ws-0001/query")
    assert '["mcp-internal", "mcp-notes", "mcp-open"]' in query.body["query"]
    assert len(arm_world.requests_to("GET", "/managedEnvironments")) == 1


def test_without_a_readable_workspace_structured_logging_says_why(arm_world, services, run_audit):
    environment = arm_world.environment_of(_app_id("mcp-notes"))
    rule = "observability.structured-logging"

    arm_world.send_logs(environment, None)
    nowhere = run_audit().results.get(rule_id=rule, service_name="notes")
    assert nowhere.status == "no_evidence"
    assert "keeps no console logs (appLogsConfiguration.destination unset)" in nowhere.message

    arm_world.send_logs(environment, "azure-monitor")
    monitor = run_audit().results.get(rule_id=rule, service_name="notes")
    assert monitor.status == "no_evidence" and "destination azure-monitor" in monitor.message

    arm_world.send_logs(environment, "log-analytics", "ws-0002")
    arm_world.denied.add("Microsoft.OperationalInsights/workspaces/query/read")
    refused = run_audit().results.get(rule_id=rule, service_name="notes")
    assert refused.status == "no_evidence"
    assert "permission Microsoft.OperationalInsights/workspaces/query/read missing" in (
        refused.message
    )
    assert "Log Analytics Reader" in refused.message
