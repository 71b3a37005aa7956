"""A stored run rendered in one of the export formats (shared by pages, the API and the CLI).

Exports stream: the results are read in chunks in (service, catalogue) order and written out
service by service, so a run of thousands of services never sits whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter

from checks.audits import export
from checks.audits.models import AuditRun
from checks.audits.results import DECIDED, RuleResult, Severity, Status
from checks.audits.services import evidence_item, fix_texts, run_meta

# format name -> (chunk generator, content type, file extension)
FORMATS = {
    "json": (export.iter_json, "application/json", "json"),
    "csv": (export.iter_csv, "text/csv; charset=utf-8", "csv"),
    "markdown": (export.iter_markdown, "text/markdown; charset=utf-8", "md"),
}
EXTENSIONS = {ext: name for name, (_, _, ext) in FORMATS.items()}


_RESULT_FIELDS = (
    "service_name",
    "rule_id",
    "section",
    "title",
    "mode",
    "status",
    "basis",
    "severity",
    "message",
    "evidence",
)


def stored_services(run: AuditRun) -> Iterator[export.ServiceEntry]:
    """Each service of a stored run with its card and results: two queries for the whole run.

    Rows are read as plain tuples in chunks (no model instance per result row)."""
    # Only the card's fields, as plain values: score rows also hold each service's evidence
    # sources, and 5,000 model instances of those were most of a large export's memory.
    scores = run.service_scores.values_list(
        "service_name", "overall", "sections", "counts", "coverage"
    ).iterator(chunk_size=2000)
    cards = {
        name: {"overall": overall, "sections": sections, "counts": counts, "coverage": coverage}
        for name, overall, sections, counts, coverage in scores
    }
    fixes = fix_texts()
    rows = (
        run.results.order_by("service_name", "position")
        .values_list(*_RESULT_FIELDS)
        .iterator(chunk_size=2000)
    )
    for name, group in groupby(rows, key=itemgetter(0)):
        yield name, cards.get(name, {}), [stored_result(row, fixes) for row in group]


def stored_result(row: tuple, fixes: dict[str, str]) -> RuleResult:
    """A stored result row (in _RESULT_FIELDS order) as the engine's RuleResult."""
    name, rule_id, section, title, mode, status, basis, severity, message, evidence = row
    status = Status(status)
    if not basis and status in DECIDED:  # rows stored before the basis was recorded
        basis = "attestation" if mode == "manual" else "evidence"
    return RuleResult(
        rule_id=rule_id,
        service=name,
        section=section,
        title=title,
        severity=Severity(severity),
        mode=mode,
        status=status,
        message=message,
        evidence=[evidence_item(e) for e in evidence],
        basis=basis,
        fix=fixes.get(rule_id, ""),
    )


def stream_export(run: AuditRun, fmt: str) -> tuple[Iterator[str], str]:
    """(text chunks, content type) of the run in `fmt`; ValueError naming an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    generator, content_type, _ = FORMATS[fmt]
    return generator(run_meta(run), run.scores or {}, stored_services(run)), content_type


def render_export(run: AuditRun, fmt: str) -> tuple[str, str]:
    """(whole body, content type): the stream joined, for callers that need one string."""
    chunks, content_type = stream_export(run, fmt)
    return "".join(chunks), content_type
