"""Every item of the guide's Production Checklist maps to a rule in the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.audits.catalogue import CATALOGUE_VERSION, CHECKLIST, RULES, RULES_BY_ID, SECTIONS

GUIDE = Path("/work/shared/seed/deploying-mcp-servers-in-production.readable.md")


def parse_checklist(text: str) -> dict[str, list[str]]:
    """Sections and items of the fenced block under '## Production Checklist'."""
    after = text.split("## Production Checklist", 1)[1]
    block = after.split("```", 2)[1]
    sections: dict[str, list[str]] = {}
    current = None
    for line in block.splitlines():
        heading = re.fullmatch(r"(\w[\w /]*):\s*", line)
        item = re.fullmatch(r"\[ \]\s+(.+?)\s*", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
        elif item and current:
            sections[current].append(item.group(1))
    return sections


@pytest.fixture(scope="module")
def guide_checklist() -> dict[str, list[str]]:
    if not GUIDE.exists():
        pytest.skip(f"seed guide not present at {GUIDE}")
    return parse_checklist(GUIDE.read_text(encoding="utf-8"))


def test_guide_checklist_parses_into_seven_sections(guide_checklist):
    assert list(guide_checklist) == [
        "Infrastructure",
        "Security",
        "Observability",
        "Reliability",
        "Performance",
        "Cost",
        "Compliance",
    ]
    assert sum(len(items) for items in guide_checklist.values()) == 35


def test_every_guide_item_maps_to_an_existing_rule(guide_checklist):
    for section, items in guide_checklist.items():
        for item in items:
            rule_id = CHECKLIST.get(section, {}).get(item)
            assert rule_id is not None, f"checklist item not covered: {section} / {item}"
            assert rule_id in RULES_BY_ID, f"{item} maps to missing rule {rule_id}"
            rule = RULES_BY_ID[rule_id]
            assert rule.section == section.lower()
            assert rule.checklist_item == item


def test_mapping_has_no_items_the_guide_lacks(guide_checklist):
    mapped = {(s, i) for s, items in CHECKLIST.items() for i in items}
    listed = {(s, i) for s, items in guide_checklist.items() for i in items}
    assert mapped == listed


def test_rules_citing_a_checklist_item_cite_a_real_one():
    items = {i for items in CHECKLIST.values() for i in items}
    for rule in RULES:
        assert rule.checklist_item in items | {""}, rule.id


def test_catalogue_metadata_is_complete():
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", CATALOGUE_VERSION)
    for rule in RULES:
        assert rule.section in SECTIONS and rule.id.startswith(rule.section + ".")
        assert rule.title and rule.rationale and rule.evidence
        assert (rule.check is not None) == (rule.mode == "automated")
    mcp_rules = {r.id for r in RULES if r.section == "mcp"}
    assert {
        "mcp.tool-poisoning",
        "mcp.destructive-tool-annotations",
        "mcp.protocol-version",
        "mcp.tools-list-requires-auth",
    } <= mcp_rules
