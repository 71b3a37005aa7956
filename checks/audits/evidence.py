"""The evidence an audit reads about one service, gathered once per service per run.

Everything here is plain data so the rules can be tested without Django or a cloud. Each piece
carries a `Provenance` (where it was read and when) because a result is only as credible as the
facts it shows: the UI prints "what was read, from where, when" next to every finding.
`None` for a whole piece means "not gathered"; rules answer "no evidence" then, never a guess.

Facts read by the pluggable evidence readers (`checks.audits.gather.reader`: a cloud's logging
API, its audit-log configuration, ...) arrive as `Observation`s under a key from `OBSERVED`; a
rule asks `Evidence.observed(KEY)` and, when nothing was read, says why with
`Evidence.unobserved_reason(KEY)`. The console's own settings are never evidence about a service.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


# Keys of the facts evidence readers record, and what each means (its value's type in brackets).
# Add a key here, a reader for it in gather.py (or a module listed in gather.READER_MODULES),
# and a rule that reads it with Evidence.observed().
STRUCTURED_LOGS = "logging.structured"
AUDIT_LOGS = "logging.audit"
BUDGET_COVERAGE = "cost.budget"
SHUTDOWN = "reliability.shutdown"
METRICS = "observability.metrics"
NETWORK = "security.network"
REACHABILITY = "infrastructure.reachability"
RATE_LIMITS = "security.rate-limits"
IDENTITY_GRANTS = "security.identity-grants"
USAGE = "performance.usage"
STATEFUL = "reliability.stateful"
ENCRYPTION = "compliance.encryption"
TRAFFIC = "cost.traffic"
PLATFORM_AUTH = "security.platform-auth"
METRICS_SCRAPE = "observability.metrics-scrape"
OBSERVED: dict[str, str] = {
    BUDGET_COVERAGE: "budgets covering the service, in the console and in the clouds' budget "
    "APIs (bool: at least one covers it)",
    STRUCTURED_LOGS: "the service's own recent log entries (bool: written as structured JSON)",
    AUDIT_LOGS: "the platform's audit-log configuration for the service (bool: enabled)",
    SHUTDOWN: "how the platform stops an instance (dict: grace_s, drain, drains_first)",
    METRICS: "a metrics scrape or platform metrics for the service (bool: collected)",
    NETWORK: "who can connect to the service (dict: exposure, entries, policies, open_policies)",
    REACHABILITY: "the routes traffic takes to the service (dict: entries, problems, exposure)",
    RATE_LIMITS: "rate limits in front of the service (dict: front, limits)",
    IDENTITY_GRANTS: "the roles bound to the service's identity (dict: identity, grants, broad)",
    USAGE: "observed CPU and memory use against requests and limits (dict, per instance)",
    STATEFUL: "whether the service keeps data of its own (dict: stateful, why)",
    ENCRYPTION: "the key that encrypts the service's stored data (dict: key, managed_by; "
    "encrypted False and unencrypted when a store is not encrypted)",
    TRAFFIC: "requests the platform counted over the last 7 days (int)",
    PLATFORM_AUTH: "whether the platform admits callers without credentials (dict: open, "
    "exposure, how)",
    METRICS_SCRAPE: "one scrape of the service's registered metrics path (bool: a Prometheus "
    "text exposition answered)",
}
# How each platform is named on a page (the registry's provider ids are not words).
PLATFORM_WORDS: dict[str, str] = {
    "gcp": "Cloud Run",
    "aws": "ECS",
    "azure": "Container Apps",
    "kubernetes": "Kubernetes",
    "url": "a plain URL service",
}
_VALUE_SHAPE = re.compile(r"\s*\((?:bool|dict|int|str|list)\b[^)]*\)\s*$")


def describe(key: str) -> str:
    """What a fact under `key` is, in words: OBSERVED's text without its value's shape."""
    return _VALUE_SHAPE.sub("", OBSERVED.get(key, key))


def platform_words(provider: str) -> str:
    """A platform as people name it: "ECS", not "aws"."""
    return PLATFORM_WORDS.get(provider, provider)


@dataclass(frozen=True)
class Observation:
    """One fact about the service read by an evidence reader, with where and when it was read."""

    value: Any
    origin: Provenance
    summary: str = ""  # how the value reads to a person, e.g. "48 of 50 entries were JSON"

    def item(self, label: str) -> EvidenceItem:
        """The evidence line a rule shows for this fact."""
        return self.origin.item(label, self.summary or self.value)


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
    # Whether the console's probe sends credentials (a header or an OAuth token); None = unknown.
    probe_credentials: bool | None = None
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

    others: Sequence[FleetMember] = field(default_factory=list)
    # Agent backends recorded as calling this service; None = dependencies were never recorded.
    callers: list[str] | None = None
    origin: Provenance = field(default_factory=lambda: Provenance("console service registry"))

    def sharing_resource(self, provider: str, account: str, resource: str) -> list[FleetMember]:
        """Other services deployed as this cloud resource."""
        key = (provider, account, resource)
        if isinstance(self.others, OtherMembers):
            return self.others.with_resource(key)
        return [m for m in self.others if m.resource and (m.provider, m.account, m.resource) == key]

    def sharing_identity(self, identity: str) -> list[FleetMember]:
        """Other services running as this cloud identity."""
        if isinstance(self.others, OtherMembers):
            return self.others.with_identity(identity)
        return [m for m in self.others if m.identity and m.identity == identity]


class FleetMembers:
    """Every registered service once, indexed by deployment and identity.

    One instance is shared by all services of a run, so a fleet of n services costs O(n) memory
    and each "who else shares this?" question is a dictionary look-up, not a scan of the fleet.
    """

    def __init__(self, members: Iterable[FleetMember]) -> None:
        self.members = list(members)
        self.names = {m.name for m in self.members}
        self.by_resource: dict[tuple[str, str, str], list[FleetMember]] = defaultdict(list)
        self.by_identity: dict[str, list[FleetMember]] = defaultdict(list)
        for m in self.members:
            if m.resource:
                self.by_resource[(m.provider, m.account, m.resource)].append(m)
            if m.identity:
                self.by_identity[m.identity].append(m)

    def others(self, name: str) -> OtherMembers:
        """The fleet as seen from the service called `name`."""
        return OtherMembers(self, name)


class OtherMembers(Sequence[FleetMember]):
    """The shared fleet minus one service, without copying it."""

    def __init__(self, fleet: FleetMembers, exclude: str) -> None:
        self._fleet, self._exclude = fleet, exclude

    def __len__(self) -> int:
        return len(self._fleet.members) - (self._exclude in self._fleet.names)

    def __iter__(self) -> Iterator[FleetMember]:
        return (m for m in self._fleet.members if m.name != self._exclude)

    def __getitem__(self, index):  # type: ignore[override]
        return list(self)[index]

    def with_resource(self, key: tuple[str, str, str]) -> list[FleetMember]:
        return [m for m in self._fleet.by_resource.get(key, ()) if m.name != self._exclude]

    def with_identity(self, identity: str) -> list[FleetMember]:
        return [m for m in self._fleet.by_identity.get(identity, ()) if m.name != self._exclude]


@dataclass
class ConsoleConfig:
    """What the console's own configuration says about this service. None = not configured.

    Only facts the console itself decides belong here (where alerts go, which budgets cover the
    service, the admin's policy); how the service logs is read from the service's platform.
    """

    alert_routed: bool | None = None  # an alert channel routes this service's failures
    budget_covered: bool | None = None  # a budget covers this service's account/project
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
    # Facts from the evidence readers, by key (see OBSERVED), and why a key was not read.
    observations: dict[str, Observation] = field(default_factory=dict)
    unobserved: dict[str, str] = field(default_factory=dict)

    def observed(self, key: str) -> Observation | None:
        """The fact a reader recorded under `key`, or None when none was read."""
        return self.observations.get(key)

    def unobserved_reason(self, key: str) -> str:
        """Why nothing was read for `key` (a reader's own reason, or that there is no reader)."""
        if key in self.unobserved:
            return self.unobserved[key]
        return (
            f"the console does not read {describe(key)} on "
            f"{platform_words(self.service.provider)} yet"
        )

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
        for key, observation in self.observations.items():
            rows.append(observation.item(describe(key)))
        return rows


_COLLECTIONS = (list, tuple, set, frozenset)


def _display(value: object) -> str:
    """A short human string for an evidence value."""
    if type(value) is str:  # the common case, checked first: evidence is written per rule
        return value
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, _COLLECTIONS):
        return ", ".join(_display(v) for v in value) or "(none)"
    return str(value)
