"""API shapes for the registry; the same field names as the fleet file."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

Kind = Literal["mcp_server", "agent_backend"]
TransportName = Literal["streamable-http", "sse"]
ProviderName = Literal["gcp", "aws", "azure", "kubernetes", "url"]


class ServiceIn(Schema):
    name: str
    kind: Kind = "mcp_server"
    url: str
    transport: TransportName = "streamable-http"
    health_path: str = ""
    metrics_path: str = ""
    environment: str = "production"
    team: str = ""
    owner: str = ""
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    account: str = ""
    resource: str = ""
    depends_on: list[str] = Field(default_factory=list)


class ServicePatch(Schema):
    kind: Kind | None = None
    url: str | None = None
    transport: TransportName | None = None
    health_path: str | None = None
    metrics_path: str | None = None
    environment: str | None = None
    team: str | None = None
    owner: str | None = None
    tags: list[str] | None = None
    description: str | None = None
    account: str | None = None
    resource: str | None = None
    depends_on: list[str] | None = None


class ServiceOut(ServiceIn):
    provider: ProviderName
    region: str
    status: Literal["unknown", "up", "degraded", "down"]
    status_changed_at: datetime | None
    last_checked_at: datetime | None
    last_latency_ms: float | None
    last_error: str


class ServicePage(Schema):
    count: int
    items: list[ServiceOut]


class AccountIn(Schema):
    name: str
    provider: ProviderName
    project: str = ""
    account_id: str = ""
    subscription: str = ""
    resource_group: str = ""
    cluster: str = ""
    namespace: str = ""
    region: str = ""
    endpoint: str = ""
    billing_account: str = ""
    probe_proxy_url: str = ""
    probe_proxy_auth_ref: str = ""
    probe_tls_ca_bundle_ref: str = ""
    probe_tls_client_cert_ref: str = ""
    probe_tls_client_key_ref: str = ""
    prometheus_url: str = ""


class AccountOut(AccountIn):
    service_count: int


class ErrorOut(Schema):
    detail: str | list
