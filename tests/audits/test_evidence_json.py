"""Stored evidence lists are written as JSON text built without a dict per line: the text must
be exactly what json.dumps made of the lines' as_dict() forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from checks.audits.results import EvidenceItem, evidence_json


def test_evidence_json_is_what_json_dumps_made():
    at = datetime(2026, 11, 30, 19, 36, 5, 123456, tzinfo=UTC)
    items = [
        EvidenceItem("label", "plain", "console service registry", at),
        EvidenceItem('quo"te\\', "tab\tnew\nline ünïcødé ✓ \U0001f600", "src", None),
        EvidenceItem("zone", "x", "src", at.astimezone(timezone(timedelta(hours=5, minutes=30)))),
        EvidenceItem("count", 3, "src", None),  # type: ignore[arg-type]  # a rule's raw value
        EvidenceItem("", "", "", None),
    ]

    for chosen in (items, items[:1], []):
        assert evidence_json(chosen) == json.dumps([item.as_dict() for item in chosen])
