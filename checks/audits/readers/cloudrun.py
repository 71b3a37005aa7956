"""Audit evidence for Cloud Run services, from the service description and three Google APIs.

- The service description already read for the run (Cloud Run Admin API services.get): the
  platform's shutdown contract, the customer-managed key (`template.encryptionKey`) and whether
  the service keeps data (Cloud SQL / Cloud Storage / NFS volumes, datastore settings).
- Resource Manager `projects.getIamPolicy` (once per project): the roles bound to the service's
  service account, and the Cloud Audit Logs configuration (`auditConfigs`).
- Cloud Logging `entries.list` (a few calls per project, checks/audits/readers/cloudrun_logs.py:
  up to 100 services per call, paged, last 7 days): each service's recent stdout/stderr entries,
  JSON (jsonPayload) or text (textPayload); the read quota is 60 calls per minute per project.
- Compute API `aggregatedList` of serverless NEGs, backend services and security policies
  (once per project, checks/audits/readers/cloud_armor.py): Cloud Armor rate-limit rules on
  the load balancer in front.
- Cloud Monitoring `timeSeries.list` of the CPU and memory utilization distributions (twice per
  project, checks/audits/readers/cloudrun_usage.py): observed use against the limits.
- Cloud Monitoring `timeSeries.list` (once per project, paged, checks/audits/readers/
  cloudrun_traffic.py): the built-in `run.googleapis.com/request_count` over the last 7 days,
  summed per service by the API (metrics collected; traffic).

Emulator endpoints come from the environment, like the budgets' ones:
`FLEET_GCP_LOGGING_ENDPOINT`, `FLEET_GCP_RESOURCE_MANAGER_ENDPOINT` and
`FLEET_GCP_MONITORING_ENDPOINT`; the emulator switch is honoured only for loopback endpoints.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
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
from checks.audits.readers import OncePerRun, cloudrun_logs, cloudrun_traffic
from checks.audits.readers.kubernetes import DATASTORE_ENV
from fleet.operations.clouds import credentials

LOGGING_ENDPOINT_ENV = "FLEET_GCP_LOGGING_ENDPOINT"
RESOURCE_MANAGER_ENDPOINT_ENV = "FLEET_GCP_RESOURCE_MANAGER_ENDPOINT"
LOGGING_API = "https://logging.googleapis.com"
RESOURCE_MANAGER_API = "https://cloudresourcemanager.googleapis.com"
TRAFFIC_DAYS = cloudrun_traffic.TRAFFIC_DAYS
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


# --- the reader --------------------------------------------------------------------------------


def read_all(context: ReadContext) -> dict[int, dict[str, Observation | str]]:
    answers: dict[int, dict[str, Observation | str]] = {}
    policies: dict[tuple[str], dict | str] = {}
    sessions: dict[tuple, Any] = {}  # sessions, clients and project reads per account, or why not
    ours = [
        (service, cloud)
        for service in context.services
        if service.provider == "gcp"
        and (cloud := context.clouds.get(service.pk)) is not None
        and cloud.snapshot is not None
    ]
    for service, cloud in ours:  # the project reads name every service of the project at once
        names = sessions.setdefault(("names", service.account.pk, service.account.project), [])
        names.append(_name(cloud.snapshot))
    for service, cloud in ours:
        answers[service.pk] = _facts(context, service, cloud, policies, sessions)
    return answers


def _name(snapshot: Any) -> str:
    return snapshot.resource.rsplit("/", 1)[-1]


def _metric_client(account: Any) -> Any:
    from fleet.budgets.clients import GCP_MONITORING_ENDPOINT_ENV, gcp_metric_client

    _endpoint(account, GCP_MONITORING_ENDPOINT_ENV)
    return gcp_metric_client(account)


def _once(
    cache: dict, key: tuple, read: Callable[[], Any], kept: Callable[[Exception], Any]
) -> Any:
    """`read()` once per run for `key`; a failure is remembered as `kept(exc)` and answered
    again for the other services that need the same read."""
    if key not in cache:
        try:
            cache[key] = read()
        except Exception as exc:
            cache[key] = kept(exc)
    return cache[key]


def _raised(found: Any) -> Any:
    if isinstance(found, Exception):
        raise found
    return found


def _account_client(clients: dict, account: Any) -> Any:
    """The account's metric client, made once per run (a failure is remembered likewise)."""
    key = (account.pk, "monitoring")
    return _raised(_once(clients, key, lambda: _metric_client(account), lambda exc: exc))


def _account_session(sessions: dict, account: Any, env: str) -> tuple[Any, str]:
    """`_session` once per account and API for the whole run: finding credentials can take a
    network round trip (the metadata server), which a fleet of thousands must not pay per
    service. A failure is remembered and raised again for the account's other services."""
    key = (account.pk, env)
    return _raised(_once(sessions, key, lambda: _session(account, env), lambda exc: exc))


def _rate_limits(
    cache: dict, account: Any, project: str, name: str, region: str, context: ReadContext
) -> Observation | str:
    """Cloud Armor rules in front of the service; the project's Compute lists are read once per
    run (cloud_armor.read_project) and a failure is remembered for its other services."""
    from checks.audits.readers import cloud_armor

    doors = _once(
        cache,
        ("cloud-armor", project),
        lambda: cloud_armor.read_project(account, project, context.read_at),
        lambda exc: (
            str(exc)
            if isinstance(exc, PermissionError)
            else _why(exc, f"the load balancers of project {project} (Compute API)")
        ),
    )
    return doors if isinstance(doors, str) else cloud_armor.rate_limits(doors, name, region)


def _usage(cache: dict, account: Any, project: str, name: str, snapshot: Any, context: Any):
    """CPU and memory use from Cloud Monitoring (cloudrun_usage), read once per project."""
    from checks.audits.readers import cloudrun_usage

    shares = _once(
        cache,
        ("usage", project),
        lambda: cloudrun_usage.read_utilizations(
            _account_client(cache, account), project, context.read_at
        ),
        lambda exc: _why(exc, "Cloud Monitoring utilization metrics"),
    )
    if isinstance(shares, str):
        return shares
    origin = Provenance(
        "Cloud Monitoring API timeSeries.list run.googleapis.com/container/cpu/utilizations, "
        f"memory/utilizations (p99, last {cloudrun_usage.USAGE_DAYS} days)",
        context.read_at,
    )
    scaling = snapshot.scaling
    return cloudrun_usage.usage(shares.get(name), scaling.cpu, scaling.memory, origin)


def _structured_logs(
    cache: dict, account: Any, project: str, name: str, context: ReadContext
) -> Observation | str:
    """The service's log evidence from its project's chunked read (cloudrun_logs), made once
    per account and project for every Cloud Run service of the run."""

    def read() -> Any:
        session, base = _account_session(cache, account, LOGGING_ENDPOINT_ENV)
        names = cache[("names", account.pk, project)]
        return cloudrun_logs.read_project(session, base, project, names, context.read_at)

    found = _once(
        cache,
        ("logs", account.pk, project),
        read,
        lambda exc: _why(exc, f"the log entries of project {project}"),
    )
    return found if isinstance(found, str) else found[name]


def _traffic(
    cache: dict, account: Any, project: str, name: str, context: ReadContext
) -> tuple[Observation | str, Observation | str]:
    """Metrics collected and requests served, from the project's request counts
    (cloudrun_traffic), read once per account and project."""
    counts = _once(
        cache,
        ("traffic", account.pk, project),
        lambda: cloudrun_traffic.read_request_counts(
            _account_client(cache, account), project, context.read_at
        ),
        lambda exc: _why(exc, "Cloud Monitoring"),
    )
    if isinstance(counts, str):
        return counts, counts
    origin = Provenance(
        f"Cloud Monitoring API timeSeries.list run.googleapis.com/request_count "
        f"(projects/{project}, summed per service, last {TRAFFIC_DAYS} days)",
        context.read_at,
    )
    count = counts.get(name)
    if count is None:
        return (
            Observation(None, origin, f"no built-in metric points in {TRAFFIC_DAYS} days"),
            Observation(0, origin, f"no requests in {TRAFFIC_DAYS} days"),
        )
    return (
        Observation(True, origin, "Cloud Run's built-in request and container metrics"),
        Observation(count, origin, f"{count} requests in {TRAFFIC_DAYS} days"),
    )


def _facts(
    context: ReadContext, service: Any, cloud: Any, policies: dict, sessions: dict
) -> dict[str, Any]:
    snapshot, account = cloud.snapshot, service.account
    project, name = account.project, _name(snapshot)
    described = cloud.origin or Provenance("Cloud Run Admin API services.get", context.read_at)
    facts: dict[str, Observation | str] = {
        SHUTDOWN: shutdown(Provenance(SHUTDOWN_CONTRACT, context.read_at)),
        ENCRYPTION: encryption(snapshot.raw or {}, described),
        STATEFUL: stateful(snapshot.raw or {}, [v.name for v in snapshot.env], described),
        RATE_LIMITS: _rate_limits(sessions, account, project, name, snapshot.region, context),
        USAGE: _usage(sessions, account, project, name, snapshot, context),
    }

    def read_policy() -> dict:
        session, base = _account_session(sessions, account, RESOURCE_MANAGER_ENDPOINT_ENV)
        url = f"{base.rstrip('/')}/v1/projects/{project}:getIamPolicy"
        return _post(session, url, {"options": {"requestedPolicyVersion": 3}})

    policy = _once(
        policies,
        (project,),
        read_policy,
        lambda exc: _why(exc, f"the IAM policy of project {project}"),
    )
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
    facts[STRUCTURED_LOGS] = _structured_logs(sessions, account, project, name, context)
    facts[METRICS], facts[TRAFFIC] = _traffic(sessions, account, project, name, context)
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
