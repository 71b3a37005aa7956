"""Whether Container Apps' built-in authentication (Easy Auth) turns anonymous callers away.

GET .../containerApps/{app}/authConfigs (https://learn.microsoft.com/en-us/rest/api/
resource-manager/containerapps/container-apps-auth-configs/list-by-container-app) lists the app's
AuthConfig (named `current`). Only `platform.enabled` with `globalValidation.
unauthenticatedClientAction` Return401, Return403 or RedirectToLoginPage refuses a caller without
credentials at the platform; AllowAnonymous lets every request through to the app (it only adds
identity headers when a caller signed in), and `excludedPaths` are let through whatever the
action (https://learn.microsoft.com/en-us/azure/container-apps/authentication). The API has no
subscription-wide list of auth configs, so this is one call per app with an ingress.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from checks.audits.evidence import Observation, Provenance

ACTION = "Microsoft.App/containerApps/authConfigs/read"
REFUSES = {
    "return401": "answers 401",
    "return403": "answers 403",
    "redirecttologinpage": "redirects to the login page",
}


def _get(obj: dict, snake: str, camel: str) -> Any:
    return obj.get(snake, obj.get(camel))


def read_auth_configs(client: Any, group: str, name: str) -> list[dict]:
    """The app's auth configs as REST-shaped dicts (raises on a refused read)."""
    return [config.as_dict() for config in client.container_apps_auth_configs.list_by_container_app(
        group, name
    )]  # fmt: skip


def _providers(properties: dict) -> list[str]:
    providers = _get(properties, "identity_providers", "identityProviders") or {}
    return sorted(
        name
        for name, provider in providers.items()
        if isinstance(provider, dict) and provider.get("enabled", True) is not False
    )


def _excluded(validation: dict, url: str) -> list[str]:
    """Excluded paths that cover the service's own path (anonymous callers pass there)."""
    path = urlsplit(url).path or "/"
    hits = []
    for excluded in _get(validation, "excluded_paths", "excludedPaths") or []:
        prefix = str(excluded).rstrip("*").rstrip("/") or "/"
        if prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            hits.append(str(excluded))
    return hits


def platform_auth(
    configs: list[dict] | str, exposure: str, url: str, origin: Provenance
) -> Observation | str:
    """Open or not at the platform, with how (the rule's dict: open, exposure, how)."""
    if isinstance(configs, str):
        return configs
    enabled = [
        c for c in configs if (_get(c.get("properties") or {}, "platform", "platform") or {}).get(
            "enabled"
        )
    ]  # fmt: skip
    if not enabled:
        how = (
            "built-in authentication is configured but disabled (platform.enabled false)"
            if configs
            else "no built-in authentication (the app lists no authConfigs)"
        )
        how += ": the platform admits anyone who reaches the ingress"
        return Observation({"open": True, "exposure": exposure, "how": [how]}, origin, how)
    properties = enabled[0].get("properties") or {}
    validation = _get(properties, "global_validation", "globalValidation") or {}
    action = _get(validation, "unauthenticated_client_action", "unauthenticatedClientAction")
    providers = _providers(properties)
    named = f"identity providers: {', '.join(providers) or 'none configured'}"
    if not action:
        return (
            "built-in authentication is enabled but sets no globalValidation."
            "unauthenticatedClientAction, and what the platform then does is not documented"
        )
    refusal = REFUSES.get(str(action).lower())
    if refusal is None:
        how = (
            f"built-in authentication enabled with unauthenticatedClientAction {action}: anonymous "
            f"callers reach the app ({named})"
        )
        return Observation({"open": True, "exposure": exposure, "how": [how]}, origin, how)
    holes = _excluded(validation, url)
    if holes:
        how = (
            f"built-in authentication {refusal} to anonymous callers ({action}), but excludedPaths "
            f"{', '.join(holes)} let them reach {urlsplit(url).path or '/'}"
        )
        return Observation({"open": True, "exposure": exposure, "how": [how]}, origin, how)
    how = f"built-in authentication {refusal} to anonymous callers ({action}; {named})"
    return Observation({"open": False, "exposure": exposure, "how": [how]}, origin, how)
