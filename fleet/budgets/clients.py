"""SDK clients for budgets and usage, built per cloud account from the standard credential chains.

AWS Budgets is served wherever the account's `endpoint` override points (moto serves every AWS
API on one endpoint). Google's Billing Budgets (REST) and Cloud Monitoring (gRPC) are separate
services from Cloud Run, so their emulator endpoints come from the environment:
`FLEET_GCP_BUDGETS_ENDPOINT` (else the account's endpoint override) and
`FLEET_GCP_MONITORING_ENDPOINT` (host:port). Credentials come from `fleet.operations.clouds.credentials`,
whose emulator switch is honoured only for loopback endpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

from fleet.costs.aws_budgets import budgets_client
from fleet.costs.errors import CostSyncError
from fleet.costs.gcp_budgets import budget_client
from fleet.costs.usage import metric_client
from fleet.models import CloudAccount
from fleet.operations.clouds import credentials
from fleet.operations.clouds.errors import EndpointRefused

GCP_BUDGETS_ENDPOINT_ENV = "FLEET_GCP_BUDGETS_ENDPOINT"
GCP_MONITORING_ENDPOINT_ENV = "FLEET_GCP_MONITORING_ENDPOINT"


def gcp_budgets_client(account: CloudAccount) -> Any:
    endpoint = os.environ.get(GCP_BUDGETS_ENDPOINT_ENV, "") or account.endpoint
    ref = dataclasses.replace(account.to_ref(), endpoint=endpoint)
    with _endpoint_refusal(account):
        return budget_client(endpoint=endpoint, credentials=credentials.google_credentials(ref))


def gcp_metric_client(account: CloudAccount) -> Any:
    endpoint = os.environ.get(GCP_MONITORING_ENDPOINT_ENV, "")
    ref = dataclasses.replace(account.to_ref(), endpoint=endpoint)
    with _endpoint_refusal(account):
        credentials.require_trusted_endpoint(ref)
        if endpoint:
            # A plaintext channel, only to a loopback emulator under the emulator switch.
            return metric_client(endpoint=endpoint)
        return metric_client(credentials=credentials.google_credentials(ref))


def aws_budgets_client(account: CloudAccount) -> Any:
    ref = account.to_ref()
    with _endpoint_refusal(account):
        return budgets_client(
            endpoint=account.endpoint,
            session=credentials.aws_session(ref),
            region="us-east-1",  # AWS Budgets is a global service served from us-east-1
        )


def azure_consumption_client(account: CloudAccount) -> Any:
    """Consumption Management (budgets) on the account's ARM endpoint: Azure's, or the
    loopback emulator's that also serves Container Apps."""
    from azure.mgmt.consumption import ConsumptionManagementClient

    ref = account.to_ref()
    with _endpoint_refusal(account):
        options: dict[str, Any] = {
            "connection_verify": credentials.azure_connection_verify(ref),
            "retry_total": 1,
        }
        if account.endpoint:
            options["base_url"] = account.endpoint
        return ConsumptionManagementClient(
            credentials.azure_credential(ref), account.subscription, **options
        )


@contextlib.contextmanager
def _endpoint_refusal(account: CloudAccount) -> Iterator[None]:
    """A refused endpoint override, as the budget code's own error (stored, not a crash)."""
    try:
        yield
    except EndpointRefused as exc:
        raise CostSyncError(
            str(exc), provider=account.provider, operation="connect", resource=account.name
        ) from None
