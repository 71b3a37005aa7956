"""From a registered service and its check settings to the probe engine's `ProbeTarget`.

The auth secret is resolved here, in the worker, from the environment variable or mounted secret
file the config names; the database only ever holds the reference.
"""

from __future__ import annotations

import ssl

from checks import oauth
from checks.models import CheckConfig
from checks.probing import network as net
from checks.probing.types import ProbeTarget
from console import secret_refs
from fleet.models import CloudAccount, Service
from fleet.validation import PROXY_DIRECT, header_name_problem, skip_verify_problem


class TargetError(Exception):
    """The service cannot be probed as configured (for example its secret is not available)."""


def resolve_secret(ref: str, header: str = "") -> str:
    """The value behind `ref`, inside the deployer's allow-list; TargetError naming the reference
    (never the value) when it is refused, missing or cannot travel as a header."""
    if header and (problem := header_name_problem(header)):
        raise TargetError(f"auth: the header name is refused: {problem}")
    try:
        return secret_refs.resolve(ref)
    except secret_refs.SecretRefError as exc:
        raise TargetError(
            f"auth: {exc} (from the check settings), so the probe cannot authenticate"
        ) from None


def config_for(service: Service) -> CheckConfig:
    """The service's check settings, created with defaults on first use."""
    config = getattr(service, "_check_config_cache", None)
    if config is None:
        config, _ = CheckConfig.objects.get_or_create(service=service)
        service._check_config_cache = config
    return config


def _oauth_token(service: Service, config: CheckConfig, network: net.ProbeNetwork) -> str:
    try:
        secret = secret_refs.resolve(config.oauth_client_secret_ref)
    except secret_refs.SecretRefError as exc:
        raise TargetError(
            f"auth: {exc} (the OAuth client secret), so the probe cannot get a token"
        ) from None
    creds = oauth.ClientCredentials(
        token_url=config.oauth_token_url,
        client_id=config.oauth_client_id,
        client_secret=secret,
        scope=config.oauth_scope,
        resource=service.url,
    )
    try:
        return oauth.access_token(
            creds, timeout_s=config.timeout_seconds, network=token_network(service, config, network)
        )
    except oauth.TokenError as exc:
        raise TargetError(f"auth: no OAuth access token: {exc}") from None


def target_for(service: Service, config: CheckConfig) -> ProbeTarget:
    """Build the probe target; raises TargetError when the configuration cannot be honoured."""
    network = network_for(service, config)
    auth_header, auth_value = config.auth_header, ""
    if config.auth_secret_ref:
        auth_value = resolve_secret(config.auth_secret_ref, config.auth_header)
    elif config.oauth_token_url:
        token = _oauth_token(service, config, network)
        auth_header, auth_value = "Authorization", f"Bearer {token}"
    return ProbeTarget(
        name=service.name,
        url=service.url,
        kind=service.kind,
        transport=service.transport,
        health_path=service.health_path,
        expected_status=config.expected_status,
        expected_json_field=config.expected_json_field,
        auth_header=auth_header,
        auth_value=auth_value,
        tool_call_name=config.tool_call_name,
        tool_call_arguments=dict(config.tool_call_arguments or {}),
        tool_call_expect=config.tool_call_expect,
        timeout_s=config.timeout_seconds,
        network=network,
    )


def network_for(service: Service, config: CheckConfig) -> net.ProbeNetwork:
    """Proxy, TLS trust and client certificate for the service's probes, and the client the
    worker remembered for it. Each part comes from the check settings, else the account, else
    (proxy) the worker's environment or (TLS) the system's defaults."""
    account = service.account if service.account_id else None
    remembered = config.probe_client == "httpx" and config.probe_client_url == service.url
    return net.ProbeNetwork(
        proxy=_proxy(service, config, account),
        tls=_tls(service, config, account),
        client="httpx" if remembered else "",
        client_reason=config.probe_client_reason if remembered else "",
    )


def token_network(
    service: Service, config: CheckConfig, network: net.ProbeNetwork
) -> net.ProbeNetwork:
    """The way to the OAuth token endpoint: the probe's (`network`), with one difference. The
    worker's environment proxy and its NO_PROXY are judged for the token endpoint's own URL (it
    may sit on another host than the service); an explicit proxy (check settings or account,
    `direct` included) is a decision about the service and carries its token requests too."""
    account = service.account if service.account_id else None
    explicit = config.proxy_url or (account is not None and account.probe_proxy_url)
    if explicit:
        return net.ProbeNetwork(proxy=network.proxy, tls=network.tls)
    try:
        proxy = net.environment_proxy_for_url(config.oauth_token_url)
    except ValueError as exc:
        raise TargetError(f"proxy: the worker's {exc}") from None
    return net.ProbeNetwork(proxy=proxy, tls=network.tls)


def _proxy(
    service: Service, config: CheckConfig, account: CloudAccount | None
) -> net.ProxyRoute | None:
    if config.proxy_url:
        url, ref, source = config.proxy_url, config.proxy_auth_ref, "the check settings"
    elif account is not None and account.probe_proxy_url:
        url, ref = account.probe_proxy_url, account.probe_proxy_auth_ref
        source = f"account {account.name}"
    else:
        try:
            return net.environment_proxy_for_url(service.url)
        except ValueError as exc:
            raise TargetError(f"proxy: the worker's {exc}") from None
    if url == PROXY_DIRECT:
        return None
    authorization = ""
    if ref:
        try:
            authorization = net.basic_authorization(secret_refs.resolve(ref))
        except secret_refs.SecretRefError as exc:
            raise TargetError(f"proxy: {exc} (the proxy credentials from {source})") from None
    try:
        return net.parse_proxy(url, source, authorization)
    except ValueError as exc:
        raise TargetError(f"proxy: {exc}") from None


def _tls(service: Service, config: CheckConfig, account: CloudAccount | None) -> net.TlsSettings:
    """The CA bundle and the client certificate (with its key) each come from the check
    settings when set there, else from the account."""

    def pick(field: str) -> tuple[str, str]:
        if getattr(config, field):
            return getattr(config, field), "the check settings"
        if account is not None and getattr(account, f"probe_{field}"):
            return getattr(account, f"probe_{field}"), f"account {account.name}"
        return "", ""

    ca_ref, ca_source = pick("tls_ca_bundle_ref")
    cert_ref, cert_source = pick("tls_client_cert_ref")
    key_ref = ""
    if cert_ref:  # the key goes with its certificate, from the same place
        key_ref = (
            config.tls_client_key_ref
            if cert_source == "the check settings"
            else (account.probe_tls_client_key_ref if account is not None else "")
        )
    if config.tls_skip_verify and (problem := skip_verify_problem(service.environment)):
        raise TargetError(f"tls: tls_skip_verify is set but {problem}")
    if not (ca_ref or cert_ref or config.tls_skip_verify):
        return net.TlsSettings()
    try:
        ca = secret_refs.resolve_pem(ca_ref) if ca_ref else ""
        cert = secret_refs.resolve_pem(cert_ref) if cert_ref else ""
        key = secret_refs.resolve_pem(key_ref) if key_ref else ""
    except secret_refs.SecretRefError as exc:
        raise TargetError(
            f"tls: {exc} (from the TLS settings), so the probe cannot connect"
        ) from None
    sources = sorted({s for s in (ca_source, cert_source) if s})
    tls = net.TlsSettings(
        ca_pem=ca,
        client_cert_pem=cert,
        client_key_pem=key,
        verify=not config.tls_skip_verify,
        source=" and ".join(sources) or "the check settings",
    )
    try:
        net.ssl_context(tls)  # built once and cached: a PEM that will not load fails here
    except (ssl.SSLError, ValueError) as exc:
        raise TargetError(
            f"tls: the CA bundle or client certificate from {tls.source} cannot be loaded "
            f"({getattr(exc, 'reason', None) or exc})"
        ) from None
    return tls
