"""From a registered service and its check settings to the probe engine's `ProbeTarget`.

The auth secret is resolved here, in the worker, from the environment variable or mounted secret
file the config names; the database only ever holds the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

from checks.models import ENV_VAR_PREFIX, FILE_PREFIX, CheckConfig
from checks.probing.types import ProbeTarget
from fleet.models import Service


class TargetError(Exception):
    """The service cannot be probed as configured (for example its secret is not available)."""


def resolve_secret(ref: str) -> str:
    """The value behind `env:NAME` or `file:/path`; TargetError naming the reference when missing."""
    if ref.startswith(FILE_PREFIX):
        path = ref.removeprefix(FILE_PREFIX)
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise TargetError(
                f"auth: cannot read the secret file {path} (from the check settings) on the "
                f"worker: {exc.strerror}"
            ) from exc
        if not value:
            raise TargetError(f"auth: the secret file {path} (from the check settings) is empty")
        return value
    name = ref.removeprefix(ENV_VAR_PREFIX)
    value = os.environ.get(name, "")
    if not value:
        raise TargetError(
            f"auth: the environment variable {name} (from the check settings) is not set "
            "on the worker, so the probe cannot authenticate"
        )
    return value


def config_for(service: Service) -> CheckConfig:
    """The service's check settings, created with defaults on first use."""
    config = getattr(service, "_check_config_cache", None)
    if config is None:
        config, _ = CheckConfig.objects.get_or_create(service=service)
        service._check_config_cache = config
    return config


def target_for(service: Service, config: CheckConfig) -> ProbeTarget:
    """Build the probe target; raises TargetError when the configuration cannot be honoured."""
    auth_value = resolve_secret(config.auth_secret_ref) if config.auth_secret_ref else ""
    return ProbeTarget(
        name=service.name,
        url=service.url,
        kind=service.kind,
        transport=service.transport,
        health_path=service.health_path,
        expected_status=config.expected_status,
        expected_json_field=config.expected_json_field,
        auth_header=config.auth_header,
        auth_value=auth_value,
        tool_call_name=config.tool_call_name,
        tool_call_arguments=dict(config.tool_call_arguments or {}),
        tool_call_expect=config.tool_call_expect,
        timeout_s=config.timeout_seconds,
    )
