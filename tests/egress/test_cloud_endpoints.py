"""Cloud credentials never go to an account endpoint override unless it is a loopback emulator
with the emulator switch on; a Kubernetes override is honoured or refused, never ignored."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.models import ApiToken
from fleet.budgets import clients
from fleet.costs.errors import CostSyncError
from fleet.models import CloudAccount
from fleet.operations.clouds.credentials import EMULATOR_ENV
from fleet.operations.clouds.errors import EndpointRefused
from fleet.operations.clouds.registry import adapter_for
from fleet.operations.clouds.types import AccountRef, ServiceRef
from tests.clouds.conftest import FAST
from tests.fakes.kubernetes import FakeKubernetes, seed_demo

ACCOUNTS = {
    "gcp": {"project": "my-project", "region": "us-central1"},
    "aws": {"region": "us-east-1", "cluster": "mcp"},
    "azure": {"subscription": "sub-1", "resource_group": "rg"},
    "kubernetes": {"namespace": "mcp"},
}


@pytest.fixture
def real_looking_credentials(monkeypatch, tmp_path):
    """What a production host has: AWS keys and a kubeconfig with a bearer token."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALREALREALREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "real-kube-token"}}],
                "contexts": [{"name": "prod", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "prod",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


@pytest.mark.parametrize("provider", sorted(ACCOUNTS))
def test_a_loopback_override_without_the_switch_gets_no_credentials(
    provider, listener, monkeypatch, real_looking_credentials
):
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    account = AccountRef("prod", provider, endpoint=listener.base, **ACCOUNTS[provider])
    with pytest.raises(EndpointRefused) as exc:
        adapter_for(account).describe(ServiceRef(account=account, resource="mcp-weather"))
    assert f"{EMULATOR_ENV}=1" in str(exc.value) and "is not used" in str(exc.value)
    assert listener.requests == []  # nothing, signed or not, reached the override


@pytest.mark.parametrize("provider", sorted(ACCOUNTS))
def test_a_remote_override_is_refused_even_with_the_switch(provider, monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "1")
    account = AccountRef("prod", provider, endpoint="https://10.1.2.3:8443", **ACCOUNTS[provider])
    with pytest.raises(EndpointRefused, match="only to the provider's own API"):
        adapter_for(account)


def test_a_kubernetes_override_is_not_applied_on_top_of_kubeconfig(
    monkeypatch, real_looking_credentials
):
    # Before: the kubeconfig's bearer token went to whatever host the override named.
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    with FakeKubernetes(token="real-kube-token") as fake:
        seed_demo(fake)
        account = AccountRef("prod", "kubernetes", namespace="mcp", endpoint=fake.endpoint)
        with pytest.raises(EndpointRefused):
            adapter_for(account).describe(ServiceRef(account=account, resource="mcp-weather"))
        assert fake.requests == []


def test_a_kubernetes_override_is_honoured_for_a_loopback_emulator(monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeKubernetes(token="fleet-emulator-token") as fake:
        seed_demo(fake)
        account = AccountRef("dev", "kubernetes", namespace="mcp", endpoint=fake.endpoint)
        snapshot = adapter_for(account, pacing=FAST).describe(
            ServiceRef(account=account, resource="mcp-weather")
        )
        assert snapshot.resource and fake.requests
        assert fake.requests[0].headers["authorization"] == "Bearer fleet-emulator-token"


@pytest.mark.django_db
def test_budget_clients_refuse_the_override_as_a_sync_error(listener, monkeypatch):
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    account = CloudAccount.objects.create(
        name="prod", provider="aws", region="us-east-1", cluster="c", endpoint=listener.base
    )
    with pytest.raises(CostSyncError, match="is not used: cloud credentials"):
        clients.aws_budgets_client(account)
    assert listener.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "endpoint", ["https://europe-west1-run.googleapis.com", "http://10.0.0.5:8080"]
)
def test_a_non_loopback_override_is_refused_when_saved(operator, endpoint):
    _, raw = ApiToken.issue(operator, "ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {"name": "prod", "provider": "gcp", "endpoint": endpoint, **ACCOUNTS["gcp"]}
    response = api.post("/api/v1/accounts", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(
        d["loc"][-1] == "endpoint" and "only for a local emulator on loopback" in d["msg"]
        for d in detail
    ), detail
    assert not CloudAccount.objects.exists()
