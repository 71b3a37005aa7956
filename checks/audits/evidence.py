"""The evidence an audit reads about one service, gathered once per service per run.

Everything here is plain data so the rules can be tested without Django or a cloud. Each piece
carries a `Provenance` (where it was read and when) because a result is only as credible as the
facts it shows: the UI prints "what was read, from where, when" next to every finding.
`None` for a whole piece means "not gathered"; rules answer "no evidence" then, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from checks.audits.results import EvidenceItem, Kind
from checks.probing.types import ProbeOutcome
from fleet.operations.clouds.types import Provider, ServiceSnapshot


@dataclass(frozen=True)
class Provenance:
    """Where a piece of evidence was read and when."""

    source: str  # e.g. "Cloud Run API projects/p/locations/l/services/s", "console registry"
    observed_at: datetime | None = None

    def item(self, label: str, value: object) -> EvidenceItem:
        """An evidence line for a value read from this source."""
        return EvidenceItem(label, _display(value), self.source, self.observed_at)


@dataclass
class ServiceFacts:
    """The service as registered in the console."""

    name: str
    kind: Kind = "mcp_server"
    url: str = ""
    transport: str = "streamable-http"
    environment: str = "production"  # "production", "staging", "development", ...
    team: str = ""
    tags: tuple[str, ...] = ()
    requires_auth: bool = True
    provider: Provider = "url"
    account: str = ""  # console name of the cloud account; "" for URL-only services
    resource: str = ""  # the platform's name for the deployed resource; "" when not linked
    health_path: str = ""
    origin: Provenance = field(default_factory=lambda: Provenance("console service registry"))

    @property
    def is_production(self) -> bool:
        """Production or prod, case-insensitive."""
        return self.environment.strip().lower() in {"production", "prod"}


@dataclass
class ProbeStats:
    """Recent probe history for the service (the window is the console's choice, e.g. 7 days)."""

    count: int
    uptime_pct: float | None = None
    p95_latency_ms: float | None = None
    window: str = "7d"
    origin: Provenance = field(default_factory=lambda: Provenance("console probe history"))


@dataclass(frozen=True)
class FleetMember:
    """Another registered service, reduced to what decides shared deployments and identities."""

    name: str
    kind: Kind
    provider: Provider
    account: str = ""
    resource: str = ""
    identity: str = ""  # service account / task role / managed identity, when known


@dataclass
class FleetContext:
    """The rest of the fleet, as seen from this service."""

    others: list[FleetMember] = field(default_factory=list)
    # Agent backends recorded as calling this service; None = dependencies were never recorded.
    callers: list[str] | None = None
    origin: Provenance = field(default_factory=lambda: Provenance("console service registry"))


@dataclass
class ConsoleConfig:
    """What the console's own configuration says about this service. None = not configured."""

    alert_routed: bool | None = None  # an alert channel routes this service's failures
    budget_covered: bool | None = None  # a budget covers this service's account/project
    structured_logging: bool | None = None  # its logs are collected as structured JSON
    audit_logging: bool | None = None  # audit logs (admin and data access) are retained
    allowed_regions: tuple[str, ...] = ()  # data-residency list; patterns like "europe-*"
    oldest_protocol_version: str = ""  # oldest MCP protocol version the fleet still accepts
    origin: Provenance = field(default_factory=lambda: Provenance("console configuration"))


@dataclass(frozen=True)
class Attestation:
    """A person's statement that a manual rule holds, valid until it expires."""

    by: str
    note: str
    at: datetime
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Thresholds:
    """Tunable limits used by automated rules; the engine fills them from overrides."""

    tls_warning_days: float = 30.0
    tls_critical_days: float = 7.0
    p95_latency_ms: float = 2000.0
    uptime_target_pct: float = 99.0


@dataclass
class Evidence:
    """Everything the rules may read about one service in one run."""

    service: ServiceFacts
    snapshot: ServiceSnapshot | None = None
    snapshot_from: Provenance | None = None
    # Why there is no cloud description ("plain URL service", the adapter's error...), if none.
    snapshot_note: str = ""
    probe: ProbeOutcome | None = None
    probe_from: Provenance | None = None
    probe_stats: ProbeStats | None = None
    fleet: FleetContext = field(default_factory=FleetContext)
    config: ConsoleConfig = field(default_factory=ConsoleConfig)
    attestations: dict[str, Attestation] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        # A snapshot or probe without a recorded origin still gets an honest label.
        if self.snapshot is not None and self.snapshot_from is None:
            self.snapshot_from = Provenance(f"{self.snapshot.provider} API")
        if self.probe is not None and self.probe_from is None:
            self.probe_from = Provenance(f"console probe of {self.service.url or 'the service'}")

    def sources(self) -> list[EvidenceItem]:
        """What was gathered for this run, from where and when (for the run's evidence panel)."""
        rows = [self.service.origin.item("service registration", self.service.name)]
        if self.snapshot is not None and self.snapshot_from is not None:
            rows.append(self.snapshot_from.item("cloud description", self.snapshot.resource))
        elif self.snapshot_note:
            rows.append(
                self.service.origin.item("cloud description", f"not read: {self.snapshot_note}")
            )
        if self.probe is not None and self.probe_from is not None:
            rows.append(self.probe_from.item("latest probe", "ok" if self.probe.ok else "failed"))
        if self.probe_stats is not None:
            stats = self.probe_stats
            rows.append(
                stats.origin.item(f"probe history ({stats.window})", f"{stats.count} probes")
            )
        rows.append(
            self.fleet.origin.item("fleet context", f"{len(self.fleet.others)} other services")
        )
        rows.append(self.config.origin.item("console configuration", "read"))
        return rows


def _display(value: object) -> str:
    """A short human string for an evidence value."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_display(v) for v in value) or "(none)"
    return str(value)
