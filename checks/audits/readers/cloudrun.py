"""Audit evidence for Cloud Run services, from the service description and three Google APIs.

- The service description already read for the run (Cloud Run Admin API services.get): the
  platform's shutdown contract, the customer-managed key (`template.encryptionKey`) and whether
  the service keeps data (Cloud SQL / Cloud Storage / NFS volumes, datastore settings).
- Resource Manager `projects.getIamPolicy` (once per project): the roles bound to the service's
  service account, and the Cloud Audit Logs configuration (`auditConfigs`).
- Cloud Logging `entries.list` (once per service): its recent stdout/stderr entries, JSON
  (jsonPayload) or text (textPayload).
- Compute API `aggregatedList` of serverless NEGs, backend services and security policies
  (once per project, checks/audits/readers/cloud_armor.py): Cloud Armor rate-limit rules on
  the load balancer in front.
- Cloud Monitoring `timeSeries.list` of the CPU and memory utilization distributions (twice per
  project, checks/audits/readers/cloudrun_usage.py): observed use against the limits.
- Cloud Monitoring `timeSeries.list` (once per service): the built-in
  `run.googleapis.com/request_count` over the last 7 days (metrics collected; traffic).

Emulator endpoints come from the environment, like the budgets' ones:
`FLEET_GCP_LOGGING_ENDPOINT`, `FLEET_GCP_RESOURCE_MANAGER_ENDPOINT` and
`FLEET_GCP_MONITORING_ENDPOINT`; the emulator switch is honoured only for loopback endpoints.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import timedelta
from typing import Any

from checks.audits.evidence import (
    AUDIT_LOGS,
    ENCRYPTION,
    IDENTITY_GRANTS,
    METRICS,
    RATE_LIMITS,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    TRAFFIC,
    USAGE,
    Observation,
    Provenance,
)
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun
from checks.audits.readers.kubernetes import DATASTORE_ENV, JSON_SHARE
from fleet.operations.clouds import credentials

LOGGING_ENDPOINT_ENV = "FLEET_GCP_LOGGING_ENDPOINT"
RESOURCE_MANAGER_ENDPOINT_ENV = "FLEET_GCP_RESOURCE_MANAGER_ENDPOINT"
LOGGING_API = "https://logging.googleapis.com"
RESOURCE_MANAGER_API = "https://cloudresourcemanager.googleapis.com"
LOG_ENTRIES = 50
TRAFFIC_DAYS = 7
TIMEOUT_S = 15
# https://cloud.google.com/run/docs/container-contract#instance-shutdown: Cloud Run stops
# sending requests to an instance, then sends SIGTERM and SIGKILL 10 seconds later.
SHUTDOWN_GRACE_S = 10
SHUTDOWN_CONTRACT = "Cloud Run container runtime contract (instance shutdown)"
# Roles that grant (nearly) everything in the project: the basic roles and any *.admin role.
BROAD_ROLE = re.compile(r"^roles/(owner|editor|[a-zA-Z.]+\.admin|iam\.serviceAccountTokenCreator)$")
DATA_ACCESS = {"DATA_READ", "DATA_WRITE"}


class NoEndpoint(Exception):
    """An emulator account without an emulator for this API: never fall through to Google."""


def _endpoint(account: Any, env: str) -> str:
    endpoint = os.environ.get(env, "")
    if account.endpoint and not endpoint:
        raise NoEndpoint(f"account {account.name} points at an emulator and {env} is not set")
    return endpoint


def _session(account: Any, env: str) -> tuple[Any, str]:
    """An authorised HTTP session and base URL for one Google API (an emulator when set)."""
    from google.auth.transport.requests import AuthorizedSession

    endpoint = _endpoint(account, env)
    ref = dataclasses.replace(account.to_ref(), endpoint=endpoint)
    session = AuthorizedSession(credentials.google_credentials(ref))
    return session, (endpoint or (LOGGING_API if "LOGGING" in env else RESOURCE_MANAGER_API))


def _post(session: Any, url: str, body: dict) -> dict:
    response = session.post(url, json=body, timeout=TIMEOUT_S)
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        raise RuntimeError(f"{response.status_code} {message}")
    return response.json()


def _why(exc: Exception, what: str) -> str:
    return f"reading {what} failed ({exc})"


# --- facts from the description ----------------------------------------------------------------


def shutdown(origin: Provenance) -> Observation:
    value = {
        "grace_s": SHUTDOWN_GRACE_S,
        "drain": "Cloud Run stops routing requests to the instance before SIGTERM",
        "drain_s": 0,
        "drains_first": True,
    }
    return Observation(value, origin, "requests stop, then SIGTERM, SIGKILL 10 s later (fixed)")


def encryption(raw: dict, origin: Provenance) -> Observation:
    key = (raw.get("template") or {}).get("encryptionKey") or ""
    summary = f"template.encryptionKey {key}" if key else "no encryptionKey: Google-managed keys"
    return Observation({"key": key, "managed_by": "Google"}, origin, summary)


def stateful(raw: dict, env_names: list[str], origin: Provenance) -> Observation:
    why = []
    for volume in (raw.get("template") or {}).get("volumes") or []:
        for kind, label in (("cloudSqlInstance", "Cloud SQL"), ("gcs", "Cloud Storage"),
                            ("nfs", "NFS")):  # fmt: skip
            if volume.get(kind):
                why.append(f"{label} volume {volume.get('name')}")
    why += [f"datastore setting {name}" for name in env_names if DATASTORE_ENV.match(name)]
    summary = "; ".join(why) or "no Cloud SQL, Cloud Storage or NFS volume, no datastore setting"
    return Observation({"stateful": bool(why), "why": why}, origin, summary)


# --- facts from the project's IAM policy -------------------------------------------------------


def grants(policy: dict, account_email: str, origin: Provenance) -> Observation:
    member = f"serviceAccount:{account_email}"
    roles = [b["role"] for b in policy.get("bindings") or [] if member in (b.get("members") or [])]
    broad = [f"{role} on the project" for role in roles if BROAD_ROLE.match(role)]
    value = {"identity": account_email, "grants": roles, "broad": broad}
    summary = f"{account_email}: {', '.join(roles) or 'no project-level role'}"
    return Observation(value, origin, summary)


def audit_logs(policy: dict, origin: Provenance) -> Observation:
    enabled: dict[str, set[str]] = {}
    for config in policy.get("auditConfigs") or []:
        types = {c.get("logType") for c in config.get("auditLogConfigs") or []}
        enabled[config.get("service", "")] = types
    on = (
        enabled.get("allServices", set()) | enabled.get("run.googleapis.com", set())
    ) & DATA_ACCESS
    where = ", ".join(f"{s}: {', '.join(sorted(t))}" for s, t in enabled.items())
    summary = (
        f"Admin Activity logs (always on); Data Access: {where}"
        if on
        else "Admin Activity logs only (always on); Data Access logs are off for Cloud Run"
    )
    return Observation(bool(on), origin, summary)


# --- facts from logs and metrics ---------------------------------------------------------------


def log_filter(service: str) -> str:
    return (
        f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{service}" '
        'AND NOT log_id("run.googleapis.com/requests")'
    )


def structured_logs(session: Any, base: str, project: str, service: str, origin: Provenance):
    body = {
        "resourceNames": [f"projects/{project}"],
        "filter": log_filter(service),
        "orderBy": "timestamp desc",
        "pageSize": LOG_ENTRIES,
    }
    entries = _post(session, f"{base.rstrip('/')}/v2/entries:list", body).get("entries") or []
    if not entries:
        return Observation(None, origin, "no log entries from the service")
    as_json = sum(1 for e in entries if isinstance(e.get("jsonPayload"), dict))
    summary = f"{as_json} of {len(entries)} recent entries were jsonPayload"
    return Observation(as_json >= JSON_SHARE * len(entries), origin, summary)


def request_count(
    account: Any, project: str, service: str, read_at: Any, client: Any = None
) -> float | None:
    """Requests over the last week from Cloud Monitoring; None when no series exists.

    `client` is the account's metric client when the caller already made one."""
    from google.cloud import monitoring_v3

    from fleet.costs.usage import REQUEST_COUNT

    if client is None:
        client = _metric_client(account)
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=(
            f'metric.type = "{REQUEST_COUNT}" AND resource.type = "cloud_run_revision" '
            f'AND resource.labels.service_name = "{service}"'
        ),
        interval=monitoring_v3.TimeInterval(
            start_time=read_at - timedelta(days=TRAFFIC_DAYS), end_time=read_at
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )
    total, seen = 0.0, False
    for series in client.list_time_series(request=request, retry=None, timeout=TIMEOUT_S):
        seen = True
        for point in series.points:
            value = point.value
            total += value.double_value if "double_value" in value else value.int64_value
    return total if seen else None


# --- the reader --------------------------------------------------------------------------------


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    answers: dict[int, dict[str, Observation | str]] = {}
    policies: dict[str, dict | str] = {}
    sessions: dict[tuple[int, str], Any] = {}  # sessions and clients per account, or why not
    for service in context.services:
        cloud = context.clouds.get(service.pk)
        if service.provider != "gcp" or cloud is None or cloud.snapshot is None:
            continue
        answers[service.pk] = _facts(context, service, cloud, policies, sessions)
    return answers


def _metric_client(account: Any) -> Any:
    from fleet.budgets.clients import GCP_MONITORING_ENDPOINT_ENV, gcp_metric_client

    _endpoint(account, GCP_MONITORING_ENDPOINT_ENV)
    return gcp_metric_client(account)


def _account_client(clients: dict, account: Any) -> Any:
    """The account's metric client, made once per run (a failure is remembered likewise)."""
    key = (account.pk, "monitoring")
    if key not in clients:
        try:
            clients[key] = _metric_client(account)
        except Exception as exc:
            clients[key] = exc
    found = clients[key]
    if isinstance(found, Exception):
        raise found
    return found


def _account_session(sessions: dict, account: Any, env: str) -> tuple[Any, str]:
    """`_session` once per account and API for the whole run: finding credentials can take a
    network round trip (the metadata server), which a fleet of thousands must not pay per
    service. A failure is remembered and raised again for the account's other services."""
    key = (account.pk, env)
    if key not in sessions:
        try:
            sessions[key] = _session(account, env)
        except Exception as exc:
            sessions[key] = exc
    found = sessions[key]
    if isinstance(found, Exception):
        raise found
    return found


def _rate_limits(
    cache: dict, account: Any, project: str, name: str, region: str, context: ReadContext
) -> Observation | str:
    """Cloud Armor rules in front of the service; the project's Compute lists are read once per
    run (cloud_armor.read_project) and a failure is remembered for its other services."""
    from checks.audits.readers import cloud_armor

    key = ("cloud-armor", project)
    if key not in cache:
        try:
            cache[key] = cloud_armor.read_project(account, project, context.read_at)
        except PermissionError as exc:
            cache[key] = str(exc)
        except Exception as exc:
            cache[key] = _why(exc, f"the load balancers of project {project} (Compute API)")
    doors = cache[key]
    return doors if isinstance(doors, str) else cloud_armor.rate_limits(doors, name, region)


def _usage(cache: dict, account: Any, project: str, name: str, snapshot: Any, context: Any):
    """CPU and memory use from Cloud Monitoring (cloudrun_usage), read once per project."""
    from checks.audits.readers import cloudrun_usage

    key = ("usage", project)
    if key not in cache:
        try:
            client = _account_client(cache, account)
            cache[key] = cloudrun_usage.read_utilizations(client, project, context.read_at)
        except Exception as exc:
            cache[key] = _why(exc, "Cloud Monitoring utilization metrics")
    shares = cache[key]
    if isinstance(shares, str):
        return shares
    origin = Provenance(
        "Cloud Monitoring API timeSeries.list run.googleapis.com/container/cpu/utilizations, "
        f"memory/utilizations (p99, last {cloudrun_usage.USAGE_DAYS} days)",
        context.read_at,
    )
    scaling = snapshot.scaling
    return cloudrun_usage.usage(shares.get(name), scaling.cpu, scaling.memory, origin)


def _facts(
    context: ReadContext, service: Any, cloud: Any, policies: dict, sessions: dict
) -> dict[str, Any]:
    snapshot, account = cloud.snapshot, service.account
    project, name = account.project, snapshot.resource.rsplit("/", 1)[-1]
    described = cloud.origin or Provenance("Cloud Run Admin API services.get", context.read_at)
    facts: dict[str, Observation | str] = {
        SHUTDOWN: shutdown(Provenance(SHUTDOWN_CONTRACT, context.read_at)),
        ENCRYPTION: encryption(snapshot.raw or {}, described),
        STATEFUL: stateful(snapshot.raw or {}, [v.name for v in snapshot.env], described),
        RATE_LIMITS: _rate_limits(sessions, account, project, name, snapshot.region, context),
        USAGE: _usage(sessions, account, project, name, snapshot, context),
    }
    if project not in policies:
        try:
            session, base = _account_session(sessions, account, RESOURCE_MANAGER_ENDPOINT_ENV)
            url = f"{base.rstrip('/')}/v1/projects/{project}:getIamPolicy"
            policies[project] = _post(session, url, {"options": {"requestedPolicyVersion": 3}})
        except Exception as exc:
            policies[project] = _why(exc, f"the IAM policy of project {project}")
    policy = policies[project]
    iam_origin = Provenance(
        f"Resource Manager API projects.getIamPolicy (projects/{project})", context.read_at
    )
    if isinstance(policy, str):
        facts[IDENTITY_GRANTS] = facts[AUDIT_LOGS] = policy
    else:
        facts[AUDIT_LOGS] = audit_logs(policy, iam_origin)
        identity = snapshot.service_identity
        facts[IDENTITY_GRANTS] = (
            grants(policy, identity, iam_origin) if identity else "no service account reported"
        )
    log_origin = Provenance(
        f"Cloud Logging API entries.list (projects/{project}, service {name}, last "
        f"{LOG_ENTRIES} entries)",
        context.read_at,
    )
    try:
        session, base = _account_session(sessions, account, LOGGING_ENDPOINT_ENV)
        facts[STRUCTURED_LOGS] = structured_logs(session, base, project, name, log_origin)
    except Exception as exc:
        facts[STRUCTURED_LOGS] = _why(exc, "the service's log entries")
    metric_origin = Provenance(
        f"Cloud Monitoring API timeSeries.list run.googleapis.com/request_count "
        f"(last {TRAFFIC_DAYS} days)",
        context.read_at,
    )
    try:
        client = _account_client(sessions, account)
        count = request_count(account, project, name, context.read_at, client=client)
    except Exception as exc:
        facts[METRICS] = facts[TRAFFIC] = _why(exc, "Cloud Monitoring")
    else:
        if count is None:
            facts[METRICS] = Observation(
                None, metric_origin, f"no built-in metric points in {TRAFFIC_DAYS} days"
            )
            facts[TRAFFIC] = Observation(0, metric_origin, f"no requests in {TRAFFIC_DAYS} days")
        else:
            facts[METRICS] = Observation(
                True, metric_origin, "Cloud Run's built-in request and container metrics"
            )
            facts[TRAFFIC] = Observation(
                int(count), metric_origin, f"{int(count)} requests in {TRAFFIC_DAYS} days"
            )
    return facts


OncePerRun(read_all).register(
    (
        SHUTDOWN,
        ENCRYPTION,
        STATEFUL,
        RATE_LIMITS,
        IDENTITY_GRANTS,
        AUDIT_LOGS,
        STRUCTURED_LOGS,
        METRICS,
        TRAFFIC,
        USAGE,
    )
)
