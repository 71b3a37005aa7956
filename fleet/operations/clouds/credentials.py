"""Credentials for the cloud SDKs, taken only from each platform's standard chain.

Nothing here reads secrets from the database. Production uses Application Default Credentials
(GCP), the boto3 chain (AWS), DefaultAzureCredential (Azure) and kubeconfig / in-cluster config
(Kubernetes).

Emulator switch: local emulators and the test fakes cannot accept real credentials, so
`FLEET_CLOUD_EMULATOR=1` makes the adapters use anonymous/static credentials instead. It is
honoured ONLY for an account whose `endpoint` override points at loopback (127.0.0.1, ::1,
localhost); for any other account the flag is ignored (with a warning) and the standard chain is
used, so a stray flag in production can never send unauthenticated calls to a real cloud.

Endpoint overrides: real credentials (Google ADC tokens, Azure tokens, AWS signatures, kube
bearer tokens) go only to the provider's own API. An account with an `endpoint` override gets
credentials only in emulator mode (loopback endpoint AND the switch on), and then only the
emulator's dummy ones; otherwise `require_trusted_endpoint` refuses with `EndpointRefused`
before any client is built, so an override is honoured or refused, never silently ignored.
For the HTTPS Azure fake, `FLEET_CLOUD_EMULATOR_CA=/path/cert.pem` names the certificate to trust;
without it TLS verification is skipped for that loopback endpoint only.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit

from console import egress
from fleet.operations.clouds.errors import EndpointRefused
from fleet.operations.clouds.types import AccountRef

log = logging.getLogger(__name__)

EMULATOR_ENV = "FLEET_CLOUD_EMULATOR"
EMULATOR_CA_ENV = "FLEET_CLOUD_EMULATOR_CA"
EMULATOR_TOKEN = "fleet-emulator-token"  # the static bearer token emulator mode sends


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint URL points at this machine."""
    host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def emulator_mode(account: AccountRef) -> bool:
    """True when FLEET_CLOUD_EMULATOR=1 and the account's endpoint override is on loopback."""
    if os.environ.get(EMULATOR_ENV, "") != "1":
        return False
    if account.endpoint and is_loopback(account.endpoint):
        return True
    log.warning(
        "%s=1 ignored for account %r: its endpoint %r is not a loopback override; "
        "using the standard credential chain",
        EMULATOR_ENV,
        account.name,
        account.endpoint,
    )
    return False


def require_trusted_endpoint(account: AccountRef) -> None:
    """Refuse an endpoint override that is not a loopback emulator under the switch.

    Called before any credential is handed to an SDK client; an account without an override
    talks to the provider's own API and passes.
    """
    if not account.endpoint:
        return
    where = f"Account '{account.name}': the endpoint override {account.endpoint}"
    if problem := egress.url_problem(account.endpoint):
        raise EndpointRefused(
            f"{where} is refused by the egress policy ({problem}).",
            provider=account.provider,
            resource=account.name,
        )
    if not emulator_mode(account):
        raise EndpointRefused(
            f"{where} is not used: cloud credentials are sent only to the provider's own API, "
            f"or to a local emulator on loopback (127.0.0.1, ::1, localhost) when "
            f"{EMULATOR_ENV}=1 is set. Remove the override, or point it at a loopback "
            "emulator and set the switch.",
            provider=account.provider,
            resource=account.name,
        )


def google_credentials(account: AccountRef) -> Any:
    """Application Default Credentials, or anonymous ones for a loopback emulator."""
    require_trusted_endpoint(account)
    if emulator_mode(account):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth

    credentials, _project = google.auth.default(
        scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    return credentials


@functools.cache
def _botocore_loader() -> Any:
    """One loader of botocore's JSON models for the process: each new session would otherwise
    parse endpoints.json and every service model again (the loader caches what it has read)."""
    from botocore.loaders import create_loader

    return create_loader()


def _botocore_session() -> Any:
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", _botocore_loader())
    return session


def aws_session(account: AccountRef) -> Any:
    """A boto3 session from the standard chain, or with static dummy keys for an emulator."""
    import boto3

    require_trusted_endpoint(account)
    region = account.region or None
    if emulator_mode(account):
        return boto3.Session(
            aws_access_key_id="fleet-emulator",
            aws_secret_access_key="fleet-emulator",
            region_name=region or "us-east-1",
            botocore_session=_botocore_session(),
        )
    return boto3.Session(region_name=region, botocore_session=_botocore_session())


class _StaticTokenCredential:
    """An azure-core TokenCredential that always hands out the emulator token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(EMULATOR_TOKEN, int(time.time()) + 3600)


def azure_credential(account: AccountRef) -> Any:
    """DefaultAzureCredential, or a static token for a loopback emulator."""
    require_trusted_endpoint(account)
    if emulator_mode(account):
        return _StaticTokenCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def azure_connection_verify(account: AccountRef) -> bool | str:
    """TLS verification for Azure calls: always on, except a loopback emulator's own certificate."""
    if emulator_mode(account):
        return os.environ.get(EMULATOR_CA_ENV) or False
    return True


def kubernetes_api_client(account: AccountRef) -> Any:
    """A kubernetes ApiClient from in-cluster config or kubeconfig (context = account.cluster).

    An endpoint override is honoured only for a loopback emulator (with its static token);
    otherwise it is refused, never applied on top of kubeconfig's bearer token or ignored.
    """
    from kubernetes import client, config

    require_trusted_endpoint(account)
    from urllib3.util.retry import Retry

    configuration = client.Configuration()
    # Retry only failed connects here; throttling and 5xx are retried (with backoff) by the
    # adapter, and a PATCH that timed out must not be sent again behind the user's back.
    configuration.retries = Retry(total=None, connect=2, read=0, redirect=0, status=0, other=0)
    if emulator_mode(account):
        configuration.host = account.endpoint.rstrip("/")
        configuration.api_key = {"BearerToken": f"Bearer {EMULATOR_TOKEN}"}
        return client.ApiClient(configuration)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not account.cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(context=account.cluster or None, client_configuration=configuration)
    return client.ApiClient(configuration)


def utc_now_iso() -> str:
    """Now, in the RFC 3339 form the cloud APIs use for timestamps."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
