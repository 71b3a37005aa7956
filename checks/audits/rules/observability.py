"""Observability rules: logs, metrics, health endpoints, alerts and dashboards."""

from __future__ import annotations

from checks.audits.evidence import METRICS, METRICS_SCRAPE, STRUCTURED_LOGS, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    config,
    failed,
    missing_probe,
    no_evidence,
    observed_flag,
    passed,
    probe,
    registry,
)

SECTION = "observability"


def config_flag(ev: Evidence, value: bool | None, label: str, yes: str, no: str) -> Finding:
    """Decide a rule from one yes/no setting of the console configuration."""
    item = config(ev, label, "not configured" if value is None else value)
    if value is None:
        return no_evidence(f"The console configuration does not record {label}.", item)
    return passed(yes, item) if value else failed(no, item)


def check_structured_logging(ev: Evidence) -> Finding:
    """The service's own recent log entries are structured JSON."""
    return observed_flag(
        ev,
        STRUCTURED_LOGS,
        "structured log entries",
        "The service writes structured JSON log entries, so they can be filtered by field.",
        "Most of the service's recent log entries are not structured JSON; searching by tool, "
        "request or error means grepping.",
    )


def check_metrics(ev: Evidence) -> Finding:
    """Metrics of the service are scraped or collected by the platform, or its registered
    metrics path answers a Prometheus exposition."""
    scrape, platform = ev.observed(METRICS_SCRAPE), ev.observed(METRICS)
    if scrape is not None and scrape.value is True:
        items = [scrape.item("metrics path scrape")]
        if platform is not None:
            items.append(platform.item("metrics collection"))
        return passed("The service exposes Prometheus metrics on its metrics path.", *items)
    if scrape is not None and (platform is None or platform.value is not True):
        items = [scrape.item("metrics path scrape")]
        if platform is not None:
            items.append(platform.item("metrics collection"))
        return failed(
            "The registered metrics path does not answer a Prometheus exposition, and the "
            "platform shows no metrics collection for the service.",
            *items,
        )
    finding = observed_flag(
        ev,
        METRICS,
        "metrics collection",
        "The service's metrics are collected.",
        "Nothing scrapes the service's metrics: degradation shows up only when users report it.",
    )
    if METRICS_SCRAPE in ev.unobserved:
        finding.evidence.append(
            registry(ev, "metrics path scrape", f"not decided: {ev.unobserved[METRICS_SCRAPE]}")
        )
    return finding


def check_health_endpoint(ev: Evidence) -> Finding:
    """The health endpoint answered the latest probe with a success status."""
    if ev.probe is None:
        return missing_probe(ev)
    status = ev.probe.http_status
    path = ev.service.health_path or ("/" if ev.service.kind == "agent_backend" else "")
    if status is None:
        if not path:
            return no_evidence(
                "No health path is registered for this service, so none was probed.",
                registry(ev, "health path", "not registered"),
            )
        return no_evidence(
            "The latest probe recorded no health status.", registry(ev, "health path", path)
        )
    items = (
        registry(ev, "health path", path or "not registered"),
        probe(ev, "HTTP status", status),
    )
    if 200 <= status < 300:
        return passed(f"The health endpoint answered {status}.", *items)
    return failed(f"The health endpoint answered {status}.", *items)


def check_alert_routing(ev: Evidence) -> Finding:
    """An alert channel is routed for this service's failures."""
    return config_flag(
        ev,
        ev.config.alert_routed,
        "alert routing",
        "Failures of this service notify an alert channel.",
        "No alert channel routes this service: an outage is noticed by its users first.",
    )


RULES = [
    Rule(
        id="observability.structured-logging",
        section=SECTION,
        title="Logs are structured",
        rationale=(
            "JSON logs with tool name, request id and outcome make incidents searchable and let "
            "log-based metrics count tool failures."
        ),
        evidence=(
            "The service's own recent log entries from the platform (Cloud Logging jsonPayload, "
            "CloudWatch Logs of the container's awslogs group, the Kubernetes pod log, the "
            "Container Apps environment's Log Analytics workspace); never the console's own "
            "logging setting."
        ),
        reads=(STRUCTURED_LOGS,),
        severity=Severity.MEDIUM,
        fix=(
            "Write one JSON object per log line (Cloud Logging reads it as jsonPayload; "
            "CloudWatch Logs as JSON) with the tool name, request id and outcome; on ECS send "
            "the container's logs to CloudWatch Logs (the awslogs driver), and on Container Apps "
            "set the environment's logs destination to a Log Analytics workspace, so they can be "
            "read."
        ),
        check=check_structured_logging,
        checklist_item="Structured logging enabled",
    ),
    Rule(
        id="observability.metrics",
        section=SECTION,
        title="Service metrics are collected",
        rationale=(
            "Call counts, durations and error rates per tool show degradation before users report "
            "it and are the input for right-sizing."
        ),
        evidence=(
            "One scrape of the service's registered metrics path (a Prometheus text exposition); "
            "Kubernetes: prometheus.io/scrape annotations on the pod template or Service, or a "
            "ServiceMonitor/PodMonitor selecting it; Cloud Run: built-in Cloud Monitoring "
            "series; Container Apps: Azure Monitor's Requests metric for the app; an attestation "
            "where nothing shows it."
        ),
        severity=Severity.MEDIUM,
        fix=(
            "Export call counts, durations and errors per tool on a Prometheus endpoint and "
            "have it scraped (on Kubernetes prometheus.io/scrape annotations or a "
            "ServiceMonitor); on any platform, register its metrics path in the service's "
            "check settings so the audit scrapes it."
        ),
        check=check_metrics,
        reads=(METRICS, METRICS_SCRAPE),
        attestable=True,
        checklist_item="Metrics collection configured",
    ),
    Rule(
        id="observability.health-endpoint",
        section=SECTION,
        title="The health endpoint answers",
        rationale=(
            "Load balancers, platforms and this console decide liveness from it; without one a "
            "hung process keeps receiving traffic."
        ),
        evidence="The HTTP status of the health path in the latest probe.",
        severity=Severity.HIGH,
        fix=(
            "Serve a health path that answers 2xx when the service can take traffic, and "
            "register it in the service's check settings."
        ),
        check=check_health_endpoint,
        checklist_item="Health check endpoints working",
    ),
    Rule(
        id="observability.alert-routing",
        section=SECTION,
        title="Failures raise an alert",
        rationale="Someone must be told when the service goes down, before the users notice.",
        evidence="Whether an alert channel in the console routes this service.",
        severity=Severity.HIGH,
        fix=(
            "Create an alert channel that routes this service (by name, team or environment) "
            "under Alerts."
        ),
        check=check_alert_routing,
        checklist_item="Alerts set up for failures",
    ),
    Rule(
        id="observability.dashboards",
        section=SECTION,
        title="A dashboard shows the service's health and load",
        rationale="On-call engineers need one place to see traffic, errors and latency together.",
        evidence="An attestation with a link to the dashboard.",
        severity=Severity.LOW,
        fix=(
            "Build a dashboard with traffic, errors and latency for the service, then attest "
            "with its link."
        ),
        mode="manual",
        checklist_item="Dashboards created",
    ),
]
