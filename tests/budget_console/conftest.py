"""Budgets end to end: the Billing Budgets, Monitoring and Cloud Run fakes, moto, a webhook receiver.

Every cloud call goes over real HTTP/gRPC on 127.0.0.1 through the official clients; the accounts'
endpoint overrides (and FLEET_GCP_*_ENDPOINT for Google's budget and monitoring APIs) point at the
fakes, with the emulator switch on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from moto.server import ThreadedMotoServer

from console.notifications.models import AlertChannel
from fleet.budgets.clients import GCP_BUDGETS_ENDPOINT_ENV, GCP_MONITORING_ENDPOINT_ENV
from fleet.costs.usage import BILLABLE_TIME, REQUEST_COUNT
from fleet.operations.clouds.credentials import EMULATOR_ENV
from tests.audit_console.conftest import run_audit  # noqa: F401  (runs an audit)
from tests.costs import moto_update_budget
from tests.factories import CloudAccountFactory, ServiceFactory
from tests.fakes.billing_budgets import FakeBillingBudgets
from tests.fakes.cloudrun import FakeCloudRun
from tests.fakes.monitoring import FakeMonitoring, SeededSeries
from tests.notifications.conftest import receiver  # noqa: F401  (a real local webhook receiver)

BILLING_ACCOUNT = "012345-6789AB-CDEF01"
AWS_ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def emulators(monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "1")


@pytest.fixture
def billing_fake(monkeypatch):
    with FakeBillingBudgets() as fake:
        monkeypatch.setenv(GCP_BUDGETS_ENDPOINT_ENV, fake.endpoint)
        yield fake


@pytest.fixture
def monitoring_fake(monkeypatch):
    with FakeMonitoring() as fake:
        monkeypatch.setenv(GCP_MONITORING_ENDPOINT_ENV, fake.endpoint)
        yield fake


@pytest.fixture
def cloudrun_fake():
    with FakeCloudRun() as fake:
        yield fake


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_url, monkeypatch):
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()
    moto_update_budget.install(monkeypatch)
    return moto_url


@pytest.fixture
def gcp_account(db, cloudrun_fake, billing_fake):
    return CloudAccountFactory(
        name="gcp-prod",
        provider="gcp",
        project="demo-project",
        region="us-central1",
        billing_account=BILLING_ACCOUNT,
        endpoint=cloudrun_fake.endpoint,
    )


@pytest.fixture
def aws_account(db, moto):
    return CloudAccountFactory(
        name="aws-prod",
        provider="aws",
        project="",
        region="us-east-1",
        cluster="fleet",
        account_id=AWS_ACCOUNT,
        endpoint=moto,
    )


@pytest.fixture
def weather(gcp_account, cloudrun_fake):
    """A Cloud Run MCP server (1 vCPU, 512Mi) registered in the console."""
    cloudrun_fake.add_service("weather", project="demo-project", cpu="1", memory="512Mi")
    return ServiceFactory(name="weather", account=gcp_account, resource="weather", team="maps")


@pytest.fixture
def ledger(aws_account):
    """An ECS service registered in the console (AWS reports its spend on the budget)."""
    return ServiceFactory(name="ledger", account=aws_account, resource="ledger", team="finance")


@pytest.fixture
def webhook(db, receiver):  # noqa: F811
    AlertChannel.objects.create(name="ops-hook", type="webhook", target=f"{receiver.url}/hook")
    return receiver


def seed_usage(fake: FakeMonitoring, service: str, day: datetime, seconds: float, requests: int):
    """One hour of Cloud Run billable time and requests for `service`, ending at `day`."""
    start, end = day - timedelta(hours=1), day
    labels = {"service_name": service, "location": "us-central1"}
    fake.seed(SeededSeries(BILLABLE_TIME, labels, [(start, end, seconds)]))
    fake.seed(SeededSeries(REQUEST_COUNT, labels, [(start, end, requests)], value_type="INT64"))


NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
