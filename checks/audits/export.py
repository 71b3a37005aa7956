"""Export an audit run as JSON, CSV or Markdown.

JSON shape (`format` = "mcp-fleet-console.audit-run/1"):

    {
      "format": "mcp-fleet-console.audit-run/1",
      "catalogue_version": "2026.11.1",
      "run": {"id": str, "started_at": ISO, "finished_at": ISO | null, "triggered_by": str},
      "fleet": {"overall": float | null, "sections": {section: float | null},
                "counts": {status: int}},
      "services": [
        {"service": str,
         "score": {"overall": float | null, "sections": {...}, "counts": {...}},
         "results": [{"rule_id", "section", "title", "severity", "mode", "status", "message",
                      "evidence": [{"label", "value", "source", "observed_at"}]}]}
      ]
    }

Services appear in name order, results in catalogue order. The CSV has one row per service and
rule; the Markdown is a readable report with a fleet summary and one table per service. Evidence
and messages may quote text from tool descriptions (attacker-controlled), so CSV cells that a
spreadsheet would run as a formula are defused and Markdown table cells are escaped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from checks.audits.catalogue import CATALOGUE_VERSION, section_title
from checks.audits.results import EvidenceItem, RuleResult
from checks.audits.scoring import fleet_score

FORMAT = "mcp-fleet-console.audit-run/1"
CSV_COLUMNS = (
    "service",
    "rule_id",
    "section",
    "title",
    "severity",
    "mode",
    "status",
    "message",
    "evidence",
)

ResultsByService = Mapping[str, Sequence[RuleResult]]


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


def to_dict(results_by_service: ResultsByService, meta: RunMeta) -> dict:
    """The documented JSON structure as Python data."""
    fleet = fleet_score(results_by_service)
    return {
        "format": FORMAT,
        "catalogue_version": meta.catalogue_version,
        "run": meta.as_dict(),
        "fleet": {"overall": fleet.overall, "sections": fleet.sections, "counts": fleet.counts},
        "services": [
            {
                "service": name,
                "score": fleet.services[name].as_dict(),
                "results": [result.as_dict() for result in results_by_service[name]],
            }
            for name in sorted(results_by_service)
        ],
    }


def to_json(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """The run as indented JSON text."""
    return json.dumps(to_dict(results_by_service, meta), indent=2, ensure_ascii=False)


def to_csv(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """One row per service and rule, with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for name in sorted(results_by_service):
        for r in results_by_service[name]:
            row = (
                name,
                r.rule_id,
                r.section,
                r.title,
                r.severity,
                r.mode,
                r.status,
                r.message,
                "; ".join(_evidence_line(item) for item in r.evidence),
            )
            writer.writerow([_defuse(str(cell)) for cell in row])
    return buffer.getvalue()


def to_markdown(results_by_service: ResultsByService, meta: RunMeta) -> str:
    """A readable report: run header, fleet scores, then one table per service."""
    fleet = fleet_score(results_by_service)
    lines = [
        f"# Production audit {meta.id}",
        "",
        f"- Catalogue version: {meta.catalogue_version}",
        f"- Started: {meta.started_at.isoformat()}",
    ]
    if meta.finished_at:
        lines.append(f"- Finished: {meta.finished_at.isoformat()}")
    if meta.triggered_by:
        lines.append(f"- Triggered by: {_cell(meta.triggered_by)}")
    lines += ["", f"**Fleet score: {_pct(fleet.overall)}**", "", "| Section | Score |", "|---|---|"]
    lines += [f"| {section_title(s)} | {_pct(v)} |" for s, v in fleet.sections.items()]
    for name in sorted(results_by_service):
        card = fleet.services[name]
        lines += [
            "",
            f"## {_cell(name)} — {_pct(card.overall)}",
            "",
            "| Status | Severity | Rule | Finding |",
            "|---|---|---|---|",
        ]
        for r in results_by_service[name]:
            lines.append(
                f"| {r.status} | {r.severity} | `{r.rule_id}` {_cell(r.title)} "
                f"| {_cell(r.message)} |"
            )
    return "\n".join(lines) + "\n"


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
