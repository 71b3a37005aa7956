"""Budget coverage is decided from the budgets that exist, in the console and in the clouds.

A budget someone made directly in Cloud Billing Budgets or AWS Budgets counts when its filter
covers the service; before, only budgets made in the console counted, so coverage failed falsely.
"""

from __future__ import annotations

import boto3
import pytest

from tests.budget_console.conftest import AWS_ACCOUNT, BILLING_ACCOUNT

pytestmark = pytest.mark.django_db
RULE = "cost.budget-coverage"


def _verdict(run_audit, service):
    run = run_audit(service)
    return run.results.get(rule_id=RULE)


def _cloud_budget(projects=None, labels=None) -> dict:
    return {
        "displayName": "made-in-the-cloud",
        "amount": {"specifiedAmount": {"currencyCode": "USD", "units": "500"}},
        "budgetFilter": {
            **({"projects": projects} if projects else {}),
            **({"labels": labels} if labels else {}),
        },
        "thresholdRules": [{"thresholdPercent": 0.9}],
    }


def test_a_gcp_budget_made_in_the_cloud_for_the_project_covers_the_service(
    weather, billing_fake, run_audit
):
    billing_fake.page_size = 1  # the answer comes in pages: every page must be read
    billing_fake.add_in_cloud(BILLING_ACCOUNT, _cloud_budget(projects=["projects/other"]))
    billing_fake.add_in_cloud(BILLING_ACCOUNT, _cloud_budget(projects=["projects/demo-project"]))

    result = _verdict(run_audit, weather)

    assert result.status == "pass", result.message
    assert "made-in-the-cloud (cloud)" in str(result.evidence)
    assert any("Cloud Billing Budgets" in e["source"] for e in result.evidence)


def test_a_cloud_budget_filtered_on_a_label_the_service_lacks_does_not_count(
    weather, billing_fake, run_audit
):
    billing_fake.add_in_cloud(BILLING_ACCOUNT, _cloud_budget(labels={"team": ["somebody-else"]}))

    result = _verdict(run_audit, weather)

    assert result.status == "fail"
    assert "1 cloud budget(s) read, none covering it" in str(result.evidence)


def test_when_the_cloud_cannot_be_read_the_verdict_is_no_evidence(weather, billing_fake, run_audit):
    billing_fake.fail_next(403, times=10, method="GET")

    result = _verdict(run_audit, weather)

    assert result.status == "no_evidence"
    assert "listing budgets failed" in result.message


def test_an_aws_budget_made_in_aws_for_the_whole_account_covers_the_service(ledger, run_audit):
    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    aws.create_budget(
        AccountId=AWS_ACCOUNT,
        Budget={
            "BudgetName": "everything",
            "BudgetLimit": {"Amount": "1000", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )

    result = _verdict(run_audit, ledger)

    assert result.status == "pass"
    assert "everything (cloud)" in str(result.evidence)


@pytest.mark.parametrize(
    ("provider", "why"),
    [("azure", "no subscription id to list budgets"), ("kubernetes", "no budget API")],
)
def test_where_cloud_budgets_are_not_read_a_missing_console_budget_is_no_evidence(provider, why):
    """Budgets of the account that bills a cluster (or of an Azure account without a
    subscription id) are not read, so "no console budget" must not read as "no budget, in the
    console or in the cloud". Budgets made in Azure: tests/audit_console/
    test_container_apps_evidence.py."""
    from django.utils import timezone

    from checks.audits.evidence import BUDGET_COVERAGE, Evidence
    from checks.audits.gather import ReadContext, service_facts
    from checks.audits.rules.cost import check_budget
    from fleet.budgets.evidence import budget_coverage
    from fleet.budgets.models import Budget
    from tests.factories import CloudAccountFactory, ServiceFactory

    account = CloudAccountFactory(name=f"{provider}-acct", provider=provider)
    service = ServiceFactory(name="docs", account=account, resource="docs", team="docs-team")
    answers = budget_coverage(ReadContext([service], {}, timezone.now()))

    reason = answers[service.pk]
    assert isinstance(reason, str) and why in reason, reason
    ev = Evidence(service=service_facts(service), unobserved={BUDGET_COVERAGE: reason})
    finding = check_budget(ev)
    assert finding.status == "no_evidence" and why in finding.message

    Budget.objects.create(name="docs-monthly", scope="team", scope_value="docs-team", amount=90)
    covered = budget_coverage(ReadContext([service], {}, timezone.now()))[service.pk]
    assert covered.value is True and "docs-monthly (console)" in covered.summary
