"""A stored run rendered in one of the export formats (shared by pages, the API and the CLI)."""

from __future__ import annotations

from checks.audits import export
from checks.audits.models import AuditRun
from checks.audits.services import results_by_service, run_meta

# format name -> (renderer, content type, file extension)
FORMATS = {
    "json": (export.to_json, "application/json", "json"),
    "csv": (export.to_csv, "text/csv; charset=utf-8", "csv"),
    "markdown": (export.to_markdown, "text/markdown; charset=utf-8", "md"),
}
EXTENSIONS = {ext: name for name, (_, _, ext) in FORMATS.items()}


def render_export(run: AuditRun, fmt: str) -> tuple[str, str]:
    """(body, content type) of the run in `fmt`; ValueError naming the format when unknown."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format '{fmt}'; use one of: {', '.join(FORMATS)}.")
    renderer, content_type, _ = FORMATS[fmt]
    return renderer(results_by_service(run), run_meta(run)), content_type
