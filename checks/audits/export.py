"""Export an audit run as JSON, CSV or Markdown.

JSON shape (`format` = "mcp-fleet-console.audit-run/2"):

    {
      "format": "mcp-fleet-console.audit-run/2",
      "catalogue_version": "2026.11.2",
      "run": {"id": str, "started_at": ISO, "finished_at": ISO | null, "triggered_by": str},
      "fleet": {"overall": float | null, "sections": {section: float | null},
                "counts": {status: int}, "coverage": COVERAGE,
                "services_scored": int, "services_audited": int},
      "services": [
        {"service": str,
         "score": {"overall": float | null, "sections": {...}, "counts": {...},
                   "coverage": COVERAGE},
         "results": [{"rule_id", "status",
                      "decided_by": "evidence" | "attestation" | null, "message",
                      "evidence": [{"label", "value", "source", "observed_at"}]}]}
      ],
      "rules": {rule_id: {"section", "title", "severity", "mode", "fix"}}
    }

What is the same for every service (a rule's section, title, severity in this run, mode and how
to fix it) is written once, in "rules" (at the end, so the export streams in one pass), not
with each of the run's results: a 5,000-service run has 215,000 of them. Where a verdict's facts
were read and when are its evidence items' `source` and `observed_at` (the oldest one is the
time the verdict holds as of).

COVERAGE is {"applicable", "evidence", "attested", "open": int, "decided_pct", "evidence_pct",
"attested_pct", "open_pct": float | null}. The score counts decided rules only (needs attestation,
no evidence and error are open; not applicable does not count); the coverage says how many rules
were decided from evidence, attested or left open.

Services appear in name order, results in catalogue order. The CSV has one row per service and
rule (how to fix each rule is in the JSON's "rules" and the Markdown, once per rule); the
Markdown is a readable report with a fleet summary, one table per service and, at the end, how
to fix each rule that did not pass. Every
format is produced as a stream of text chunks (`iter_json`, `iter_csv`, `iter_markdown`) so a run
of thousands of services is written out service by service, never held whole in memory. Evidence
and messages may quote text from tool descriptions (attacker-controlled), so CSV cells that a
spreadsheet would run as a formula are defused and Markdown table cells are escaped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from checks.audits.catalogue import CATALOGUE_VERSION, section_title
from checks.audits.results import STATUS_WORDS, EvidenceItem, RuleResult
from checks.audits.scoring import fleet_score

FORMAT = "mcp-fleet-console.audit-run/2"
PASSED = frozenset({"pass", "not_applicable"})
CSV_COLUMNS = (
    "service",
    "rule_id",
    "section",
    "title",
    "severity",
    "status",
    "decided_by",
    "message",
    "source",
    "observed_at",
    "evidence",
)

ResultsByService = Mapping[str, Sequence[RuleResult]]
# One service of a run: its name, its score card (ScoreCard.as_dict()) and its results.
ServiceEntry = tuple[str, dict, Sequence[RuleResult]]


@dataclass(frozen=True)
class RunMeta:
    """Identifies one audit run in an export."""

    id: str
    started_at: datetime
    finished_at: datetime | None = None
    triggered_by: str = ""
    catalogue_version: str = CATALOGUE_VERSION

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "triggered_by": self.triggered_by,
        }


def in_memory(results_by_service: ResultsByService) -> tuple[dict, Iterator[ServiceEntry]]:
    """(fleet summary, service entries) for results held in memory, scored here."""
    fleet = fleet_score(results_by_service)
    entries = (
        (name, fleet.services[name].as_dict(), results_by_service[name])
        for name in sorted(results_by_service)
    )
    return fleet.summary(), entries


def to_dict(results_by_service: ResultsByService, meta: RunMeta) -> dict:
    """The documented JSON structure as Python data."""
    return json.loads(to_json(results_by_service, meta))


def to_json(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """The run as indented JSON text."""
    return "".join(iter_json(meta, *in_memory(results_by_service)))


def to_csv(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """One row per service and rule, with a header row."""
    return "".join(iter_csv(meta, *in_memory(results_by_service)))


def to_markdown(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """A readable report: run header, fleet scores, then one table per service."""
    return "".join(iter_markdown(meta, *in_memory(results_by_service)))


def iter_json(meta: RunMeta, fleet: dict, services: Iterable[ServiceEntry]) -> Iterator[str]:
    """The JSON export in chunks: the header, then one chunk per service."""
    # Per-service cards and per-rule counts a stored run keeps are not part of the header.
    fleet = {k: v for k, v in fleet.items() if k not in ("services", "rules")}
    header = {
        "format": FORMAT,
        "catalogue_version": meta.catalogue_version,
        "run": meta.as_dict(),
        "fleet": fleet,
    }
    text = json.dumps(header, indent=2, ensure_ascii=False)
    yield text[: text.rindex("}")].rstrip() + ',\n  "services": ['
    first = True
    rules: dict[str, dict] = {}
    for name, card, results in services:
        entry = {
            "service": name,
            "score": card,
            "results": [_result_entry(result, rules) for result in results],
        }
        # One line per service: the compact form is written by the C encoder, several times
        # faster than an indented one, which matters for runs of thousands of services.
        body = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        yield ("\n    " if first else ",\n    ") + body
        first = False
    yield "\n  ],\n" if not first else "],\n"
    yield '  "rules": ' + json.dumps(rules, ensure_ascii=False, separators=(",", ":")) + "\n}\n"


def _result_entry(result: RuleResult, rules: dict[str, dict]) -> dict:
    """One verdict as the JSON export writes it; its rule's constant facts go into `rules`."""
    if result.rule_id not in rules:
        rules[result.rule_id] = {
            "section": result.section,
            "title": result.title,
            "severity": str(result.severity),
            "mode": result.mode,
            "fix": result.fix,
        }
    return {
        "rule_id": result.rule_id,
        "status": str(result.status),
        "decided_by": result.basis or None,
        "message": result.message,
        "evidence": [item.as_dict() for item in result.evidence],
    }


def iter_csv(meta: RunMeta, fleet: dict, services: Iterable[ServiceEntry]) -> Iterator[str]:
    """The CSV export in chunks: the header row, then one chunk per service."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name, _card, results in services:
        for r in results:
            observed = r.observed_at
            row = (
                name,
                r.rule_id,
                r.section,
                r.title,
                r.severity,
                r.status,
                r.basis,
                r.message,
                r.source,
                observed.isoformat() if observed else "",
                "; ".join(_evidence_line(item) for item in r.evidence),
            )
            writer.writerow([_defuse(str(cell)) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def iter_markdown(meta: RunMeta, fleet: dict, services: Iterable[ServiceEntry]) -> Iterator[str]:
    """The Markdown report in chunks: the run header and fleet scores, then each service."""
    lines = [
        f"# Production audit {meta.id}",
        "",
        f"- Catalogue version: {meta.catalogue_version}",
        f"- Started: {_words(meta.started_at)}",
    ]
    if meta.finished_at:
        lines.append(f"- Finished: {_words(meta.finished_at)}")
    if meta.triggered_by:
        lines.append(f"- Triggered by: {_cell(meta.triggered_by)}")
    lines += [
        "",
        f"**Fleet score: {_pct(fleet.get('overall'))}** (over decided rules)",
        "",
        f"Evidence coverage: {coverage_sentence(fleet.get('coverage'))}",
        "",
        "| Section | Score |",
        "|---|---|",
    ]
    lines += [
        f"| {section_title(s)} | {_pct(v)} |" for s, v in (fleet.get("sections") or {}).items()
    ]
    yield "\n".join(lines) + "\n"
    fixes: dict[str, tuple[str, str]] = {}  # rules that did not pass somewhere: said once
    for name, card, results in services:
        lines = [
            "",
            f"## {_cell(name)} — {_pct(card.get('overall'))}",
            "",
            f"Evidence coverage: {coverage_sentence(card.get('coverage'))}",
            "",
            "| Status | Severity | Rule | Finding | Evidence from |",
            "|---|---|---|---|---|",
        ]
        for r in results:
            observed = r.observed_at
            when = f" at {_words(observed, seconds=False)}" if observed else ""
            lines.append(
                f"| {STATUS_WORDS.get(r.status, r.status)} | {r.severity} "
                f"| `{r.rule_id}` {_cell(r.title)} | {_cell(r.message)} "
                f"| {_cell(r.source + when)} |"
            )
            if r.status not in PASSED and r.fix and r.rule_id not in fixes:
                fixes[r.rule_id] = (r.title, r.fix)
        yield "\n".join(lines) + "\n"
    if fixes:
        lines = ["", "## How to fix", ""]
        lines += [
            f"- `{rule_id}` {_cell(title)}: {_cell(fix)}" for rule_id, (title, fix) in fixes.items()
        ]
        yield "\n".join(lines) + "\n"


def coverage_sentence(coverage: Mapping | None) -> str:
    """'31 of 44 rules decided (70.5 %): 28 from evidence, 3 attested, 13 open.'"""
    if not coverage or not coverage.get("applicable"):
        return "no applicable rules."
    return (
        f"{coverage['evidence'] + coverage['attested']} of {coverage['applicable']} rules decided "
        f"({coverage['decided_pct']:.1f} %): {coverage['evidence']} from evidence, "
        f"{coverage['attested']} attested, {coverage['open']} open."
    )


def _words(moment: datetime, seconds: bool = True) -> str:
    """A moment as a person reads it in a report: '30 Nov 2026, 12:03:27 UTC' (no microseconds;
    UTC, since a report travels without its reader's zone)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{utc.day} {utc:%b %Y}, {utc.strftime(clock)} UTC"


def _evidence_line(item: EvidenceItem) -> str:
    when = f" @ {item.observed_at.isoformat()}" if item.observed_at else ""
    return f"{item.label}: {item.value} [{item.source}{when}]"


def _defuse(cell: str) -> str:
    # Spreadsheets execute cells starting with these characters as formulas.
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")


def _pct(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.1f}%"
