"""Fixtures for the cost tests: the Billing Budgets and Monitoring fakes, and moto in server mode."""

from __future__ import annotations

import boto3
import httpx
import pytest
from google.auth.credentials import AnonymousCredentials
from moto.server import ThreadedMotoServer

from fleet.costs.aws_budgets import budgets_client
from fleet.costs.errors import RetryPolicy
from fleet.costs.gcp_budgets import budget_client
from fleet.costs.usage import metric_client
from tests.fakes.billing_budgets import FakeBillingBudgets
from tests.fakes.monitoring import FakeMonitoring

# Real retries, short waits: a test that retries three times should not take seconds.
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)


@pytest.fixture
def billing_fake():
    with FakeBillingBudgets() as fake:
        yield fake


@pytest.fixture
def gcp_client(billing_fake):
    return budget_client(endpoint=billing_fake.endpoint, credentials=AnonymousCredentials())


@pytest.fixture
def monitoring_fake():
    with FakeMonitoring() as fake:
        yield fake


@pytest.fixture
def monitoring_client(monitoring_fake):
    return metric_client(endpoint=monitoring_fake.endpoint)


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_client(moto_url):
    httpx.post(f"{moto_url}/moto-api/reset").raise_for_status()  # each test starts empty
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return budgets_client(endpoint=moto_url, session=session)
