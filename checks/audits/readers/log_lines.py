"""Whether a service's own log lines are structured: the one rule every platform reader applies
to the lines it read (Kubernetes pod logs, CloudWatch Logs events, Log Analytics console lines;
Cloud Run counts jsonPayload entries the same way)."""

from __future__ import annotations

import json

from checks.audits.evidence import Observation, Provenance

JSON_SHARE = 0.8  # this share of JSON-object lines counts as structured logging


def is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def judged(lines: list[str], origin: Provenance, what: str) -> Observation:
    """Structured when at least JSON_SHARE of `lines` (not empty) are JSON objects; `what` names
    them in the summary ("recent lines of pod notes-1")."""
    as_json = sum(1 for line in lines if is_json_object(line))
    summary = f"{as_json} of {len(lines)} {what} were JSON objects"
    return Observation(as_json >= JSON_SHARE * len(lines), origin, summary)
