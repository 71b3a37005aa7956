"""Tool-list fingerprints and diffs, to spot tools that change under the same server version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from checks.probing.types import ToolInfo

FIELDS = ("description", "input_schema", "annotations")
_SHOWN = 80


def tool_as_dict(tool: ToolInfo | dict[str, Any]) -> dict[str, Any]:
    """The canonical dict form {"name","description","input_schema","annotations"}."""
    data = asdict(tool) if isinstance(tool, ToolInfo) else tool
    return {
        "name": data.get("name", ""),
        "description": data.get("description") or "",
        "input_schema": data.get("input_schema") or {},
        "annotations": data.get("annotations") or {},
    }


def tool_fingerprint(tools: list[ToolInfo] | list[dict[str, Any]]) -> str:
    """sha256 over names, descriptions, schemas and annotations; independent of list/key order."""
    canonical = sorted((tool_as_dict(t) for t in tools), key=lambda d: d["name"])
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FieldChange:
    field: str  # description | input_schema | annotations
    before: Any
    after: Any


@dataclass
class ToolDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[FieldChange]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when both lists describe the same tools."""
        return not (self.added or self.removed or self.changed)

    def changed_descriptions(self) -> list[str]:
        """Names of tools whose description text changed."""
        return [n for n, cs in self.changed.items() if any(c.field == "description" for c in cs)]

    def readable(self) -> str:
        """A few plain lines for the UI and notifications."""
        if self.empty:
            return "No tool changes."
        lines = [f"+ added tool {name!r}" for name in self.added]
        lines += [f"- removed tool {name!r}" for name in self.removed]
        for name, changes in self.changed.items():
            for change in changes:
                lines.append(f"~ {name!r} {change.field}: {_describe_change(change)}")
        return "\n".join(lines)


def diff_tools(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> ToolDiff:
    """Compare two tool lists by name: added, removed, and per-field changes with before/after."""
    before = {d["name"]: d for d in map(tool_as_dict, old)}
    after = {d["name"]: d for d in map(tool_as_dict, new)}
    diff = ToolDiff(
        added=sorted(after.keys() - before.keys()), removed=sorted(before.keys() - after.keys())
    )
    for name in sorted(before.keys() & after.keys()):
        changes = [
            FieldChange(f, before[name][f], after[name][f])
            for f in FIELDS
            if _canonical(before[name][f]) != _canonical(after[name][f])
        ]
        if changes:
            diff.changed[name] = changes
    return diff


def description_changed_without_version_bump(
    old_version: str, new_version: str, diff: ToolDiff
) -> bool:
    """The rug-pull warning: a tool's description changed while the server version did not."""
    return bool(diff.changed_descriptions()) and old_version.strip() == new_version.strip()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _describe_change(change: FieldChange) -> str:
    if change.field == "description":
        return f"{_short(change.before)!r} -> {_short(change.after)!r}"
    paths = _json_changes(change.before, change.after, "")
    return "; ".join(paths) if paths else "reordered"


def _json_changes(before: Any, after: Any, path: str) -> list[str]:
    """Leaf-level differences between two JSON values, as "path: old -> new" phrases."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(f"removed {sub}")
            elif key not in before:
                out.append(f"added {sub} = {_short(_canonical(after[key]))}")
            else:
                out += _json_changes(before[key], after[key], sub)
        return out
    if _canonical(before) == _canonical(after):
        return []
    where = path or "value"
    return [f"{where}: {_short(_canonical(before))} -> {_short(_canonical(after))}"]


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
