"""Google budgets through the official Billing Budgets client (REST) against the strict fake."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud.billing import budgets_v1
from google.protobuf import field_mask_pb2

from fleet.costs.errors import CostSyncError
from fleet.costs.gcp_budgets import delete_budget, get_budget, upsert_budget
from fleet.costs.spec import BudgetSpec
from fleet.costs.thresholds import ThresholdRule
from tests.costs.conftest import FAST_RETRY

ACCOUNT = "0123AB-4567CD-89EF01"


def payments_budget(**changes) -> BudgetSpec:
    fields = dict(
        display_name="fleet: payments",
        amount=Decimal("250.50"),
        currency="USD",
        thresholds=(
            ThresholdRule(Decimal(50)),
            ThresholdRule(Decimal(90)),
            ThresholdRule(Decimal(100), "forecast"),
        ),
        projects=("acme-prod",),
        labels={"team": "payments"},
    )
    return BudgetSpec(**{**fields, **changes})


def test_create_sends_the_budget_google_expects(billing_fake, gcp_client):
    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)

    lookup, create = billing_fake.requests
    assert (lookup.method, lookup.path) == ("GET", f"/v1/billingAccounts/{ACCOUNT}/budgets")
    assert (create.method, create.path) == ("POST", f"/v1/billingAccounts/{ACCOUNT}/budgets")
    assert create.body == {
        "displayName": "fleet: payments",
        "budgetFilter": {
            "projects": ["projects/acme-prod"],
            "labels": {"team": ["payments"]},
            "calendarPeriod": 1,  # MONTH
        },
        "amount": {"specifiedAmount": {"currencyCode": "USD", "units": "250", "nanos": 500000000}},
        "thresholdRules": [
            {"thresholdPercent": 0.5, "spendBasis": 1},  # CURRENT_SPEND
            {"thresholdPercent": 0.9, "spendBasis": 1},
            {"thresholdPercent": 1.0, "spendBasis": 2},  # FORECASTED_SPEND
        ],
    }
    assert synced.name.startswith(f"billingAccounts/{ACCOUNT}/budgets/")
    assert (synced.amount, synced.currency) == (Decimal("250.5"), "USD")
    assert synced.thresholds == payments_budget().thresholds
    assert (synced.projects, synced.labels) == (("acme-prod",), {"team": "payments"})
    assert synced.etag


def test_syncing_an_unchanged_budget_sends_no_update(billing_fake, gcp_client):
    first = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)

    again = upsert_budget(
        ACCOUNT, payments_budget(), name=first.name, client=gcp_client, retry=FAST_RETRY
    )

    assert billing_fake.calls("PATCH") == []
    assert (again.etag, again.fingerprint) == (first.etag, first.fingerprint)


def test_update_masks_only_the_changed_fields(billing_fake, gcp_client):
    first = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)
    changed = payments_budget(amount=Decimal(400), thresholds=(ThresholdRule(Decimal(75)),))

    updated = upsert_budget(ACCOUNT, changed, client=gcp_client, retry=FAST_RETRY)  # by name

    (patch,) = billing_fake.calls("PATCH")
    assert patch.path == f"/v1/{first.name}"
    assert patch.query["updateMask"] == ["amount,thresholdRules"]
    assert patch.body["amount"] == {"specifiedAmount": {"currencyCode": "USD", "units": "400"}}
    assert updated.amount == Decimal(400)
    assert updated.thresholds == (ThresholdRule(Decimal(75)),)
    assert updated.display_name == "fleet: payments"
    assert updated.etag != first.etag
    assert updated.changed_since(first.fingerprint)


def test_a_change_made_in_the_cloud_is_noticed(billing_fake, gcp_client):
    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)
    assert not get_budget(synced.name, client=gcp_client).changed_since(synced.fingerprint)

    billing_fake.modify_in_cloud(
        synced.name, {"amount": {"specifiedAmount": {"currencyCode": "USD", "units": "999"}}}
    )
    seen = get_budget(synced.name, client=gcp_client, retry=FAST_RETRY)

    assert seen.etag != synced.etag
    assert seen.changed_since(synced.fingerprint)
    assert seen.amount == Decimal(999)


def test_a_stale_etag_does_not_overwrite_the_cloud_change(billing_fake, gcp_client):
    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)
    billing_fake.modify_in_cloud(synced.name, {"displayName": "renamed by finance"})

    with pytest.raises(CostSyncError) as err:
        upsert_budget(
            ACCOUNT,
            payments_budget(amount=Decimal(300)),
            name=synced.name,
            expected_etag=synced.etag,
            client=gcp_client,
            retry=FAST_RETRY,
        )

    assert err.value.cause == "conflict"
    assert f"gcp budgets: update {synced.name} failed: conflict" in str(err.value)
    assert billing_fake.budgets[synced.name]["displayName"] == "renamed by finance"
    assert billing_fake.budgets[synced.name]["amount"]["specifiedAmount"]["units"] == "250"


def test_permission_denied_is_not_retried(billing_fake, gcp_client):
    billing_fake.fail_next(403)

    with pytest.raises(CostSyncError) as err:
        upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)

    assert err.value.cause == "permission"
    assert err.value.attempts == 1
    assert str(err.value).startswith(f"gcp budgets: list billingAccounts/{ACCOUNT} failed")
    assert len(billing_fake.requests) == 1
    assert billing_fake.budgets == {}


def test_throttling_is_retried_until_it_passes(billing_fake, gcp_client):
    billing_fake.fail_next(429, times=2, method="POST")

    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)

    assert len(billing_fake.calls("POST")) == 3
    assert list(billing_fake.budgets) == [synced.name]


def test_server_errors_give_up_after_the_retry_budget(billing_fake, gcp_client):
    billing_fake.fail_next(500, times=10)

    with pytest.raises(CostSyncError) as err:
        get_budget(f"billingAccounts/{ACCOUNT}/budgets/b1", client=gcp_client, retry=FAST_RETRY)

    assert (err.value.cause, err.value.attempts) == ("server", 3)
    assert "after 3 attempts" in str(err.value)
    assert len(billing_fake.requests) == 3


def test_delete_is_idempotent_and_a_deleted_budget_is_not_found(billing_fake, gcp_client):
    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)

    assert delete_budget(synced.name, client=gcp_client, retry=FAST_RETRY) is True
    assert delete_budget(synced.name, client=gcp_client, retry=FAST_RETRY) is False
    with pytest.raises(CostSyncError) as err:
        get_budget(synced.name, client=gcp_client, retry=FAST_RETRY)
    assert err.value.cause == "not_found"
    assert synced.name in str(err.value)


def test_the_fake_rejects_bad_update_masks_like_the_api(billing_fake, gcp_client):
    synced = upsert_budget(ACCOUNT, payments_budget(), client=gcp_client, retry=FAST_RETRY)
    budget = budgets_v1.Budget(name=synced.name, display_name="x")

    with pytest.raises(gexc.BadRequest, match="Invalid update mask path: 'etag'"):
        gcp_client.update_budget(
            budget=budget, update_mask=field_mask_pb2.FieldMask(paths=["etag"]), retry=None
        )


def test_the_fake_rejects_unknown_fields_with_google_error_json(billing_fake):
    response = httpx.post(
        f"{billing_fake.endpoint}/v1/billingAccounts/{ACCOUNT}/budgets",
        json={
            "displayName": "x",
            "amount": {"specifiedAmount": {"currencyCode": "USD"}},
            "cost": 1,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "cost"' in response.json()["error"]["message"]
