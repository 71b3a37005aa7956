"""From a registered service and its check settings to the probe engine's `ProbeTarget`.

The auth secret is resolved here, in the worker, from the environment variable or mounted secret
file the config names; the database only ever holds the reference.
"""

from __future__ import annotations

from checks import oauth
from checks.models import CheckConfig
from checks.probing.types import ProbeTarget
from console import secret_refs
from fleet.models import Service
from fleet.validation import header_name_problem


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


def _oauth_token(service: Service, config: CheckConfig) -> str:
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
        return oauth.access_token(creds, timeout_s=config.timeout_seconds)
    except oauth.TokenError as exc:
        raise TargetError(f"auth: no OAuth access token: {exc}") from None


def target_for(service: Service, config: CheckConfig) -> ProbeTarget:
    """Build the probe target; raises TargetError when the configuration cannot be honoured."""
    auth_header, auth_value = config.auth_header, ""
    if config.auth_secret_ref:
        auth_value = resolve_secret(config.auth_secret_ref, config.auth_header)
    elif config.oauth_token_url:
        auth_header, auth_value = "Authorization", f"Bearer {_oauth_token(service, config)}"
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
    )
