"""Audit evidence for Container Apps, from the app's description (Container Apps API
containerApps.get, already read for the run): its ingress (external or environment-internal,
`allowInsecure`) and its `ipSecurityRestrictions`, its template's volumes and mounts (whether it
keeps data: an Azure Files share, or a datastore setting); per subscription the role assignments and the
activity log's export; per subscription and region Azure Monitor's Requests and CPU/memory
metrics (container_apps_usage.py); per app with an ingress its built-in authentication
(container_apps_auth.py); per subscription its managed environments, and per Log Analytics
workspace one query of the apps' recent console lines (container_apps_logs.py).

API reference: https://learn.microsoft.com/en-us/rest/api/containerapps/container-apps/get
(Ingress, IpSecurityRestrictionRule). The SDK's `as_dict()` spells fields in snake case.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from checks.audits.evidence import (
    AUDIT_LOGS,
    IDENTITY_GRANTS,
    METRICS,
    NETWORK,
    PLATFORM_AUTH,
    REACHABILITY,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    TRAFFIC,
    USAGE,
    Observation,
    Provenance,
)
from checks.audits.gather import ReadContext
from checks.audits.readers import (
    OncePerRun,
    container_apps_auth,
    container_apps_logs,
    container_apps_usage,
)
from checks.audits.readers.kubernetes import DATASTORE_ENV

ANYWHERE = {"0.0.0.0/0", "::/0", "*", "any"}
# Template.terminationGracePeriodSeconds: "If this value is nil, the default grace period will be
# used instead ... Defaults to 30 seconds." (ContainerApp Template in the API reference above);
# https://learn.microsoft.com/en-us/azure/container-apps/application-lifecycle-management
# (shutdown: SIGTERM, then SIGKILL after the grace period). Container Apps has no preStop hook.
DEFAULT_GRACE_S = 30
# Template.volumes[].storageType: AzureFile and NfsAzureFile mount an Azure Files share that
# outlives every replica; EmptyDir (the default) is scratch space lost with the replica and
# Secret mounts the app's own secrets (https://learn.microsoft.com/en-us/rest/api/
# resource-manager/containerapps/container-apps/get, Volume; https://learn.microsoft.com/en-us/
# azure/container-apps/storage-mounts).
PERSISTENT_STORAGE = {"azurefile": "Azure Files share", "nfsazurefile": "NFS Azure Files share"}


def _ingress(raw: dict) -> dict | None:
    configuration = raw.get("configuration") or (raw.get("properties") or {}).get("configuration")
    return (configuration or {}).get("ingress")


def _field(obj: dict, snake: str, camel: str) -> Any:
    return obj.get(snake, obj.get(camel))


def network(raw: dict, origin: Provenance) -> Observation:
    ingress = _ingress(raw)
    if ingress is None:
        value = {"kind": "IP security restriction", "exposure": "none", "entries": [],
                 "policies": ["no ingress"], "open_policies": []}  # fmt: skip
        return Observation(value, origin, "ingress disabled: nothing can connect")
    external = bool(ingress.get("external"))
    rules = _field(ingress, "ip_security_restrictions", "ipSecurityRestrictions") or []
    allowed = [r for r in rules if r.get("action") == "Allow"]
    policies = [
        f"{r.get('name')} ({r.get('action')} {_field(r, 'ip_address_range', 'ipAddressRange')})"
        for r in rules
    ]
    open_ = [
        f"{r.get('name')} ({_field(r, 'ip_address_range', 'ipAddressRange')})"
        for r in allowed
        if _field(r, "ip_address_range", "ipAddressRange") in ANYWHERE
    ]
    if not external:
        policies.insert(0, "internal ingress (the app's environment and VNet only)")
    entry = f"{'external' if external else 'internal'} ingress {ingress.get('fqdn', '')}"
    insecure = _field(ingress, "allow_insecure", "allowInsecure")
    # Allow rules deny every other address, so they fence the external entry itself.
    fenced = bool(allowed) and not open_
    value = {
        "kind": "IP security restriction",
        "exposure": "internet" if external and not fenced else "restricted",
        "entries": [entry + (", plain HTTP allowed" if insecure else "")],
        "policies": policies,
        "open_policies": open_,
    }
    summary = f"{entry}; " + ("; ".join(policies) or "no ipSecurityRestrictions")
    return Observation(value, origin, summary)


def shutdown(raw: dict, origin: Provenance) -> Observation:
    template = raw.get("template") or (raw.get("properties") or {}).get("template") or {}
    grace = _field(template, "termination_grace_period_seconds", "terminationGracePeriodSeconds")
    grace_s = DEFAULT_GRACE_S if grace is None else int(grace)
    default = " (the default)" if grace is None else ""
    summary = (
        f"template.terminationGracePeriodSeconds {grace_s}{default}; Container Apps offers no "
        "preStop hook and documents no drain before SIGTERM"
    )
    value = {"grace_s": grace_s, "drain": "", "drain_s": 0, "drains_first": False}
    return Observation(value, origin, summary)


def stateful(raw: dict, origin: Provenance) -> Observation:
    """Whether the app keeps data: a persistent (Azure Files) volume its containers mount, or
    a datastore setting in their environment (the rule asks for a backup then)."""
    template = raw.get("template") or (raw.get("properties") or {}).get("template") or {}
    containers = template.get("containers") or []
    mounted = {
        _field(mount, "volume_name", "volumeName")
        for container in containers
        for mount in _field(container, "volume_mounts", "volumeMounts") or []
    }
    why = []
    for volume in template.get("volumes") or []:
        kind = str(_field(volume, "storage_type", "storageType") or "EmptyDir")
        label = PERSISTENT_STORAGE.get(kind.lower())
        if label and volume.get("name") in mounted:
            share = _field(volume, "storage_name", "storageName") or ""
            why.append(f"{label} volume {volume.get('name')}" + (f" ({share})" if share else ""))
    why += [
        f"datastore setting {env['name']}"
        for container in containers
        for env in container.get("env") or []
        if DATASTORE_ENV.match(env.get("name") or "")
    ]
    summary = "; ".join(why) or (
        "no Azure Files volume mounted (EmptyDir and Secret volumes keep nothing), no datastore "
        "setting"
    )
    return Observation({"stateful": bool(why), "why": why}, origin, summary)


def reachability(raw: dict, ready: int | None, origin: Provenance) -> Observation:
    ingress = _ingress(raw)
    if ingress is None:
        value = {"entries": [], "problems": [], "exposure": "none", "ready_pods": ready}
        return Observation(value, origin, "ingress disabled")
    external = bool(ingress.get("external"))
    port = _field(ingress, "target_port", "targetPort")
    problems = [] if port else ["the ingress names no target port"]
    entry = (
        f"{'external' if external else 'internal'} ingress {ingress.get('fqdn', '')} → port {port}"
    )
    value = {
        "entries": [entry],
        "problems": problems,
        "exposure": "internet" if external else "cluster",
        "ready_pods": ready,
    }
    return Observation(value, origin, "; ".join(problems + [entry]))


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    answers: dict[int, dict[str, Observation | str]] = {}
    subscriptions: dict[int, Subscription] = {}
    auth_reads: list[tuple[dict, Callable[[], Observation | str]]] = []
    # (account pk, workspace id) -> (account, [(facts, app name, environment name)]): one
    # query per workspace.
    log_reads: dict[tuple[int, str], tuple[Any, list[tuple[dict, str, str]]]] = {}
    for service in context.services:
        cloud = context.clouds.get(service.pk)
        if service.provider != "azure" or cloud is None or cloud.snapshot is None:
            continue
        raw = cloud.snapshot.raw or {}
        origin = cloud.origin or Provenance("Container Apps API containerApps.get", context.read_at)
        facts: dict[str, Observation | str] = {
            NETWORK: network(raw, origin),
            REACHABILITY: reachability(raw, cloud.snapshot.ready_instances, origin),
            SHUTDOWN: shutdown(raw, origin),
            STATEFUL: stateful(raw, origin),
        }
        account = service.account
        if account.pk not in subscriptions:
            subscriptions[account.pk] = read_grants(account)
        found = subscriptions[account.pk]
        grants_origin = Provenance(
            f"Authorization API roleAssignments.listForSubscription, roleDefinitions.list "
            f"(subscriptions/{account.subscription})",
            context.read_at,
        )
        facts[IDENTITY_GRANTS] = identity_grants(found, raw, grants_origin)
        if found.audit is None:
            try:
                found.audit = found.broken or audit_logs(account, context.read_at)
            except Exception as exc:
                found.audit = f"reading the activity log's diagnostic settings failed ({exc})"
        facts[AUDIT_LOGS] = found.audit
        if found.apps_client is None:
            found.apps_client = apps_client(account)
        if found.environments is None:
            found.environments = found.broken or environments(found.apps_client)
        where, why = log_destination(found.environments, raw)
        if why:
            facts[STRUCTURED_LOGS] = why
        else:
            name = raw.get("name") or (raw.get("id") or "").rsplit("/", 1)[-1] or service.resource
            environment = container_apps_logs.environment_of(raw).rsplit("/", 1)[-1]
            log_reads.setdefault((account.pk, where), (account, []))[1].append(
                (facts, name, environment)
            )
        region = (cloud.snapshot.region or "").replace(" ", "").lower()
        if region not in found.traffic:
            found.traffic[region], found.usage[region] = (
                (found.broken, found.broken)
                if found.broken
                else read_region_metrics(account, region, context.read_at)
            )
        metric_origin = Provenance(
            f"Azure Monitor metrics Requests (Microsoft.App/containerApps, subscription scope, "
            f"{region}, last {TRAFFIC_DAYS} days)",
            context.read_at,
        )
        facts[TRAFFIC] = traffic(found.traffic[region], raw.get("id") or "", metric_origin)
        usage_origin = Provenance(
            f"Azure Monitor metrics {container_apps_usage.CPU_METRIC}, "
            f"{container_apps_usage.MEMORY_METRIC} (Microsoft.App/containerApps, subscription "
            f"scope, {region}, daily Maximum, last {container_apps_usage.USAGE_DAYS} days)",
            context.read_at,
        )
        facts[USAGE] = container_apps_usage.usage(found.usage[region], raw, usage_origin)
        auth_reads.append(
            (facts, partial(platform_auth, found, service, raw, facts[NETWORK], context.read_at))
        )
        count = facts[TRAFFIC]
        if isinstance(count, Observation) and count.value:
            facts[METRICS] = Observation(
                True, metric_origin, "Azure Monitor platform metrics (Requests) for the app"
            )
        answers[service.pk] = facts
    for (_, workspace), (account, apps) in log_reads.items():
        read_console_logs(account, workspace, apps, context.read_at)
    # One authConfigs list per app (no wider list exists): side by side, on one client per
    # account, so a thousand apps wait on the API about AUTH_READS_AT_ONCE times less.
    with ThreadPoolExecutor(max_workers=AUTH_READS_AT_ONCE) as pool:
        done = pool.map(lambda read: read(), [r for _, r in auth_reads])
        for (facts, _), answer in zip(auth_reads, done, strict=True):
            facts[PLATFORM_AUTH] = answer
    return answers


# --- role assignments and Azure Monitor metrics (once per subscription / region) ----------------

# Actions that let a holder do anything, or hand out roles (Owner, Contributor, User Access
# Administrator, Role Based Access Control Administrator and custom roles alike).
# https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles
BROAD_ACTIONS = {"*", "Microsoft.Authorization/*", "Microsoft.Authorization/roleAssignments/write"}
TRAFFIC_DAYS = 7
# The activity log category of control-plane writes (who changed what):
# https://learn.microsoft.com/en-us/azure/azure-monitor/essentials/activity-log-schema
AUDIT_CATEGORY = "Administrative"
DIAGNOSTICS_API_VERSION = "2021-05-01-preview"
METRIC_SERIES_CAP = 1000  # `top` of the subscription-scope metrics query (series per answer)
# authConfigs lists in flight. ARM throttles reads per subscription and principal with a token
# bucket of 250 refilled at 25 a second (https://learn.microsoft.com/en-us/azure/
# azure-resource-manager/management/request-limits-and-throttling): more in flight would not
# read a large subscription faster, and a 429 the SDK's retry does not absorb leaves that app's
# rule open with the reason.
AUTH_READS_AT_ONCE = 8


def _options(account: Any) -> tuple[Any, dict]:
    from fleet.operations.clouds.credentials import azure_connection_verify, azure_credential

    ref = account.to_ref()
    options: dict[str, Any] = {"connection_verify": azure_connection_verify(ref), "retry_total": 1}
    if account.endpoint:
        options["base_url"] = account.endpoint
    return azure_credential(ref), options


def _refusal(exc: Exception, action: str, what: str) -> str:
    status = getattr(exc, "status_code", None)
    code = getattr(getattr(exc, "error", None), "code", "") or ""
    if status == 403:
        return f"permission {action} missing ({status} {code})".replace(" )", ")")
    return f"reading {what} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"


@dataclass
class Subscription:
    """One subscription's role assignments and definitions, read once per run (or why not)."""

    assignments: list[Any] | str = field(default_factory=list)
    definitions: dict[str, Any] = field(default_factory=dict)
    traffic: dict[str, dict[str, float] | str] = field(default_factory=dict)  # region -> ...
    # Why the account cannot be read at all (no credential): said once, not tried per region.
    broken: str = ""
    audit: Observation | str | None = None  # the activity log's export, read once
    usage: dict[str, container_apps_usage.Peaks | str] = field(default_factory=dict)  # region
    apps_client: Any = None  # one Container Apps client per account (or why none), per-app reads
    # managed environment (lower-case id) -> (workspace, name) or why its logs are unreadable;
    # or why the environments could not be listed
    environments: dict[str, str | tuple[str, str]] | str | None = None


def read_grants(account: Any) -> Subscription:
    """Role assignments of the subscription (every scope in it) and the role definitions."""
    from azure.mgmt.authorization import AuthorizationManagementClient

    credential, options = _options(account)
    client = AuthorizationManagementClient(credential, account.subscription, **options)
    found = Subscription()
    try:
        found.assignments = list(client.role_assignments.list_for_subscription())
    except Exception as exc:
        found.assignments = _refusal(
            exc, "Microsoft.Authorization/roleAssignments/read", "role assignments"
        )
        if type(exc).__name__ in ("ClientAuthenticationError", "ServiceRequestError"):
            found.broken = f"the account {account.name} cannot be read ({type(exc).__name__})"
        return found
    try:
        scope = f"/subscriptions/{account.subscription}"
        found.definitions = {d.id.lower(): d for d in client.role_definitions.list(scope)}
    except Exception as exc:
        found.assignments = _refusal(
            exc, "Microsoft.Authorization/roleDefinitions/read", "role definitions"
        )
    return found


def audit_logs(account: Any, read_at: Any) -> Observation | str:
    """Whether the subscription's activity log (Administrative category) is exported by a
    diagnostic setting: without one Azure keeps it 90 days and nothing alerts on it.
    GET /subscriptions/{sub}/providers/Microsoft.Insights/diagnosticSettings, sent through
    azure-mgmt-core's ARM pipeline (the Azure Monitor client has no such operation)."""
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.rest import HttpRequest
    from azure.mgmt.core import ARMPipelineClient

    credential, options = _options(account)
    base = options.get("base_url") or "https://management.azure.com"
    policy = BearerTokenCredentialPolicy(credential, "https://management.azure.com/.default")
    path = f"/subscriptions/{account.subscription}/providers/Microsoft.Insights/diagnosticSettings"
    with ARMPipelineClient(base_url=base, policies=[policy]) as client:
        request = HttpRequest("GET", f"{base.rstrip('/')}{path}",
                              params={"api-version": DIAGNOSTICS_API_VERSION})  # fmt: skip
        response = client.send_request(request, connection_verify=options["connection_verify"])
    action = "Microsoft.Insights/diagnosticSettings/read"
    if response.status_code == 403:
        return f"permission {action} missing (403 AuthorizationFailed)"
    if response.status_code != 200:
        return (
            f"reading the activity log's diagnostic settings failed (HTTP {response.status_code})"
        )
    origin = Provenance(
        f"Azure Monitor subscriptionDiagnosticSettings.list (subscriptions/{account.subscription})",
        read_at,
    )
    exporting = [
        setting.get("name", "")
        for setting in response.json().get("value") or []
        if any(
            log.get("category") == AUDIT_CATEGORY and log.get("enabled")
            for log in (setting.get("properties") or {}).get("logs") or []
        )
    ]
    if exporting:
        return Observation(
            True, origin, f"activity log ({AUDIT_CATEGORY}) exported by {', '.join(exporting)}"
        )
    return Observation(
        False,
        origin,
        f"no diagnostic setting exports the activity log's {AUDIT_CATEGORY} category: Azure keeps "
        "it 90 days and nothing outside the portal reads it",
    )


def principals(raw: dict) -> list[str]:
    identity = raw.get("identity") or {}
    ids = [_field(identity, "principal_id", "principalId")]
    assigned = _field(identity, "user_assigned_identities", "userAssignedIdentities") or {}
    ids += [_field(v or {}, "principal_id", "principalId") for v in assigned.values()]
    return [i for i in ids if i]


def identity_grants(found: Subscription, raw: dict, origin: Provenance) -> Observation | str:
    if isinstance(found.assignments, str):
        return found.assignments
    ids = set(principals(raw))
    if not ids:
        value = {"identity": "", "grants": [], "broad": []}
        return Observation(value, origin, "no managed identity: the app holds no Azure roles")
    grants, broad = [], []
    for assignment in found.assignments:
        if assignment.principal_id not in ids:
            continue
        definition = found.definitions.get((assignment.role_definition_id or "").lower())
        name = definition.role_name if definition else assignment.role_definition_id
        label = f"{name} on {assignment.scope}"
        grants.append(label)
        actions = (
            {a for p in (definition.permissions or []) for a in p.actions or []}
            if (definition)
            else set()
        )
        if actions & BROAD_ACTIONS:
            broad.append(f"{label} ({', '.join(sorted(actions & BROAD_ACTIONS))})")
    value = {"identity": ", ".join(sorted(ids)), "grants": grants, "broad": broad}
    return Observation(value, origin, "; ".join(grants) or "no role assignment")


def read_region_metrics(
    account: Any, region: str, read_at: Any
) -> tuple[dict[str, float] | str, container_apps_usage.Peaks | str]:
    """Requests per app (lower-case ARM id) over TRAFFIC_DAYS days in one region, and each app's
    CPU/memory peaks: one subscription-scope metrics query split by the Microsoft.ResourceId
    dimension, asking Requests (Total) and UsageNanoCores/WorkingSetBytes (Maximum) at once."""
    from azure.mgmt.monitor import MonitorManagementClient

    credential, options = _options(account)
    client = MonitorManagementClient(credential, account.subscription, **options)
    start = read_at - timedelta(days=TRAFFIC_DAYS)
    try:
        answer = client.metrics.list_at_subscription_scope(
            region=region,
            timespan=f"{start.isoformat()}/{read_at.isoformat()}",
            interval="P1D",
            metricnames=f"Requests,{container_apps_usage.METRIC_NAMES}",
            aggregation="Total,Maximum",
            metricnamespace="Microsoft.App/containerApps",
            filter="Microsoft.ResourceId eq '*'",
            top=METRIC_SERIES_CAP,
        )
    except Exception as exc:
        why = _refusal(exc, "Microsoft.Insights/metrics/read", "Azure Monitor metrics")
        return why, why
    metrics = answer.value or []
    requests = [m for m in metrics if m.name and m.name.value == "Requests"]
    totals: dict[str, float] = {}
    series = [s for metric in requests for s in metric.timeseries or []]
    for one in series:
        resource = container_apps_usage.resource_of(one)
        totals[resource.lower()] = sum(point.total or 0 for point in one.data or [])
    if len(series) >= METRIC_SERIES_CAP:
        totals["__capped__"] = float(len(series))
    return totals, container_apps_usage.peaks(metrics, METRIC_SERIES_CAP)


def apps_client(account: Any) -> Any:
    """One Container Apps client per account for the per-app reads (or why there is none)."""
    try:
        from azure.mgmt.appcontainers import ContainerAppsAPIClient

        credential, options = _options(account)
        return ContainerAppsAPIClient(credential, account.subscription, **options)
    except Exception as exc:
        return f"the account {account.name} cannot be read ({type(exc).__name__}: {exc})"


def environments(client: Any) -> dict[str, str | tuple[str, str]] | str:
    """The subscription's managed environments and where each keeps console logs."""
    if isinstance(client, str):
        return client
    try:
        return container_apps_logs.read_environments(client)
    except Exception as exc:
        return _refusal(exc, container_apps_logs.ENVIRONMENTS_ACTION, "the managed environments")


def log_destination(found: dict[str, str | tuple[str, str]] | str, raw: dict) -> tuple[str, str]:
    """(the Log Analytics workspace holding the app's console logs, "") or ("", why none)."""
    if isinstance(found, str):
        return "", found
    environment = container_apps_logs.environment_of(raw)
    where = found.get(environment)
    if where is None:
        return "", f"the app's environment {environment or '(none named)'} was not listed"
    return ("", where) if isinstance(where, str) else (where[0], "")


def read_console_logs(
    account: Any, workspace: str, apps: list[tuple[dict, str, str]], read_at: Any
) -> None:
    """One Log Analytics query for every app of the run logging to `workspace`."""
    origin = Provenance(
        f"Log Analytics query of workspace {workspace} (ContainerAppConsoleLogs_CL, "
        f"ContainerAppConsoleLogs; up to {container_apps_logs.LOG_LINES} lines per app, last day)",
        read_at,
    )
    try:
        client = container_apps_logs.logs_client(account)
        lines = container_apps_logs.query_workspace(client, workspace, [a[1] for a in apps])
    except Exception as exc:
        why = container_apps_logs.refusal(exc)
        for facts, _, _ in apps:
            facts[STRUCTURED_LOGS] = why
        return
    for facts, name, environment in apps:
        facts[STRUCTURED_LOGS] = container_apps_logs.structured_logs(
            container_apps_logs.lines_of(lines, environment, name), workspace, origin
        )


def platform_auth(
    found: Subscription, service: Any, raw: dict, network_fact: Observation, read_at: Any
) -> Observation | str:
    """Built-in authentication of an app with an ingress (one authConfigs list per app)."""
    ingress = _ingress(raw)
    if ingress is None:
        how = ["ingress disabled: nothing outside the app's replicas can call it"]
        value = {"open": False, "exposure": "none", "how": how}
        return Observation(value, network_fact.origin, how[0])
    if found.broken:
        return found.broken
    exposure = network_fact.value.get("exposure")
    if not ingress.get("external"):
        exposure = "environment"
    parts = (raw.get("id") or "").split("/")
    group, name = (parts[4], parts[8]) if len(parts) > 8 else ("", service.resource)
    origin = Provenance(
        f"Container Apps API containerAppsAuthConfigs.listByContainerApp ({group}/{name})",
        read_at,
    )
    if isinstance(found.apps_client, str):
        return found.apps_client
    try:
        configs: list[dict] | str = container_apps_auth.read_auth_configs(
            found.apps_client, group, name
        )
    except Exception as exc:
        configs = _refusal(exc, container_apps_auth.ACTION, "the app's authConfigs")
    return container_apps_auth.platform_auth(configs, exposure, service.url, origin)


def traffic(totals: dict[str, float] | str, app_id: str, origin: Provenance) -> Observation | str:
    if isinstance(totals, str):
        return totals
    if app_id.lower() not in totals:
        if "__capped__" in totals:
            return (
                f"the region holds more than {METRIC_SERIES_CAP} apps with Requests series and "
                "this one was not among those returned"
            )
        return Observation(0, origin, f"no Requests series in {TRAFFIC_DAYS} days")
    count = int(totals[app_id.lower()])
    return Observation(count, origin, f"{count} requests in {TRAFFIC_DAYS} days")


OncePerRun(read_all).register(
    (NETWORK, REACHABILITY, SHUTDOWN, IDENTITY_GRANTS, TRAFFIC, METRICS, AUDIT_LOGS, USAGE,
     PLATFORM_AUTH, STATEFUL, STRUCTURED_LOGS)
)  # fmt: skip
