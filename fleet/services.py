"""State changes to the registry: one atomic block each, with its audit-log row.

The form, the API and the fleet file all come through here, so one set of rules applies.
A "spec" is the fleet-file shape of an object: plain values, the account and dependencies by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from console.audit import record_action
from fleet import validation
from fleet.models import CloudAccount, Dependency, Service

ACCOUNT_FIELDS = (
    "provider",
    "project",
    "account_id",
    "subscription",
    "resource_group",
    "cluster",
    "namespace",
    "region",
    "endpoint",
    "billing_account",
    "probe_proxy_url",
    "probe_proxy_auth_ref",
    "probe_tls_ca_bundle_ref",
    "probe_tls_client_cert_ref",
    "probe_tls_client_key_ref",
    "prometheus_url",
)
SERVICE_FIELDS = (
    "kind",
    "url",
    "transport",
    "health_path",
    "metrics_path",
    "environment",
    "team",
    "owner",
    "tags",
    "description",
    "resource",
)
SERVICE_DEFAULTS: dict[str, Any] = {
    "kind": "mcp_server",
    "transport": "streamable-http",
    "health_path": "",
    "metrics_path": "",
    "environment": "production",
    "team": "",
    "owner": "",
    "tags": [],
    "description": "",
    "resource": "",
}


def account_state(account: CloudAccount) -> dict:
    """The account as a spec (what export writes and the audit log stores)."""
    return {"name": account.name, **{f: getattr(account, f) for f in ACCOUNT_FIELDS}}


def service_state(service: Service) -> dict:
    """The service as a spec, dependencies by name."""
    state = {"name": service.name, **{f: getattr(service, f) for f in SERVICE_FIELDS}}
    state["account"] = service.account.name if service.account_id else ""
    state["depends_on"] = sorted(d.name for d in service.dependencies.all()) if service.pk else []
    return state


def dependency_graph(exclude: str | None = None) -> dict[str, list[str]]:
    """Every caller's callees, by name, as stored."""
    graph: dict[str, list[str]] = {}
    for caller, callee in Dependency.objects.values_list("caller__name", "callee__name"):
        if caller != exclude:
            graph.setdefault(caller, []).append(callee)
    return graph


def prepare_account(spec: dict, instance: CloudAccount | None = None) -> CloudAccount:
    """Apply a spec to an account (new or existing) and validate it; does not save."""
    account = instance or CloudAccount()
    account.name = spec.get("name", account.name)
    for field in ACCOUNT_FIELDS:
        setattr(account, field, spec.get(field) or "")
    account.full_clean()
    return account


def prepare_service(spec: dict, instance: Service | None = None) -> Service:
    """Apply a spec to a service (new or existing) and validate it, dependencies included."""
    service = instance or Service()
    service.name = spec.get("name", service.name)
    for field in SERVICE_FIELDS:
        value = spec.get(field)
        setattr(service, field, SERVICE_DEFAULTS.get(field, "") if value is None else value)
    account_name = spec.get("account") or ""
    if account_name:
        account = CloudAccount.objects.filter(name=account_name).first()
        if account is None:
            raise ValidationError({"account": f"No cloud account named '{account_name}'."})
        service.account = account
    else:
        service.account = None
    service.full_clean()
    _refuse_production_skipping_verification(service, spec)
    callees = list(spec.get("depends_on") or [])
    _check_dependencies(service, callees)
    return service


def _refuse_production_skipping_verification(service: Service, spec: dict) -> None:
    """A service whose probes skip TLS verification cannot become production: `tls_skip_verify`
    is refused there, so the move is refused too (naming `environment`) until it is turned off.
    A fleet-file entry whose own `checks:` set `tls_skip_verify` decides it there (turned off it
    may move; left on, the check settings refuse it). The check settings row is locked, so a
    concurrent settings save (which reads the environment under the same lock) cannot slip by."""
    from checks.models import CheckConfig

    if service.pk is None or not validation.is_production(service.environment):
        return
    checks = spec.get("checks")
    if isinstance(checks, dict) and "tls_skip_verify" in checks:
        return
    skipping = (
        CheckConfig.objects.select_for_update()
        .filter(service_id=service.pk)
        .values_list("tls_skip_verify", flat=True)
        .first()
    )
    if skipping:
        shown = f"'{service.environment}'" if service.environment else "empty (production)"
        raise ValidationError(
            {
                "environment": f"cannot be {shown} while the check settings skip TLS "
                "verification (tls_skip_verify), which production services may not do. Turn "
                "tls_skip_verify off on the check settings page (or give the CA bundle in "
                "tls_ca_bundle_ref), then change the environment."
            }
        )


def _check_dependencies(service: Service, callees: list[str]) -> None:
    known = set(Service.objects.filter(name__in=callees).values_list("name", flat=True))
    unknown = [c for c in callees if c not in known and c != service.name]
    if unknown:
        raise ValidationError({"depends_on": f"No service named '{unknown[0]}'."})
    graph = dependency_graph(exclude=service.name or None)
    validation.validate_dependencies(service.name, service.kind, callees, graph)


def _set_dependencies(service: Service, callees: Iterable[str]) -> None:
    wanted = set(callees)
    Dependency.objects.filter(caller=service).exclude(callee__name__in=wanted).delete()
    have = set(Dependency.objects.filter(caller=service).values_list("callee__name", flat=True))
    targets = Service.objects.filter(name__in=wanted - have)
    Dependency.objects.bulk_create([Dependency(caller=service, callee=t) for t in targets])


def save_service(
    *, actor: Any, source: str, spec: dict, instance: Service | None = None
) -> Service:
    """Create or update a service from a spec, audit-logged. Raises ValidationError."""
    with transaction.atomic():
        before = service_state(instance) if instance else None
        service = prepare_service(spec, instance)
        service.save()
        _set_dependencies(service, spec.get("depends_on") or [])
        after = service_state(service)
        if before != after:
            record_action(
                actor,
                "update" if before else "create",
                service,
                source=source,
                before=before,
                after=after,
            )
    return service


def delete_service(*, actor: Any, source: str, service: Service) -> None:
    with transaction.atomic():
        before = service_state(service)
        record_action(actor, "delete", service, source=source, before=before)
        service.delete()


def save_account(
    *, actor: Any, source: str, spec: dict, instance: CloudAccount | None = None
) -> CloudAccount:
    """Create or update a cloud account from a spec, audit-logged. Raises ValidationError."""
    with transaction.atomic():
        before = account_state(instance) if instance else None
        if instance and spec.get("provider") and spec["provider"] != instance.provider:
            _check_provider_change(instance, spec["provider"])
        account = prepare_account(spec, instance)
        account.save()
        after = account_state(account)
        if before != after:
            record_action(
                actor,
                "update" if before else "create",
                account,
                source=source,
                before=before,
                after=after,
            )
    return account


def _check_provider_change(account: CloudAccount, provider: str) -> None:
    """Resource ids of existing services must still fit the new platform."""
    for service in account.services.exclude(resource=""):
        try:
            validation.validate_resource(provider, service.resource)
        except ValidationError as exc:
            raise ValidationError(
                {
                    "provider": f"Service '{service.name}' has resource '{service.resource}', which "
                    f"does not fit {provider}: {exc.message_dict['resource'][0]}"
                }
            ) from exc


def delete_account(*, actor: Any, source: str, account: CloudAccount) -> None:
    """Refuses while services still live in the account, naming them."""
    names = list(account.services.values_list("name", flat=True)[:5])
    if names:
        raise ValidationError(
            {
                "account": f"Account '{account.name}' still has services: {', '.join(names)}. "
                "Move or delete them first."
            }
        )
    with transaction.atomic():
        record_action(actor, "delete", account, source=source, before=account_state(account))
        account.delete()
