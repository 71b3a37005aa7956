"""MCP-specific rules beyond the guide: poisoned tool metadata, unannotated destructive tools,
outdated protocol versions and tool listings served without credentials."""

from __future__ import annotations

import re

from checks.audits.evidence import Evidence
from checks.audits.poisoning import scan_text, scan_tools
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    config,
    failed,
    missing_probe,
    no_evidence,
    not_applicable,
    passed,
    probe,
    registry,
)
from checks.probing.types import ToolInfo

SECTION = "mcp"

DESTRUCTIVE_VERBS = frozenset(
    {"delete", "drop", "remove", "destroy", "wipe", "kill", "purge", "truncate", "reset", "erase"}
)


def _no_tools_answer(ev: Evidence) -> Finding | None:
    """The shared early answer when the probe has no tool list to read."""
    if ev.probe is None:
        return missing_probe(ev)
    if not ev.probe.tools and not ev.probe.ok:
        return no_evidence(
            "The latest probe failed before listing tools.", probe(ev, "error", ev.probe.error)
        )
    return None


def check_tool_poisoning(ev: Evidence) -> Finding:
    """No tool metadata or server instruction carries hidden instructions for the model."""
    early = _no_tools_answer(ev)
    if early is not None:
        return early
    assert ev.probe is not None
    report = scan_tools(ev.probe.tools)
    instructions = scan_text(ev.probe.instructions)
    lines = [
        probe(ev, f"tool {hit.tool} · {hit.field}", f"{m.pattern}: {m.excerpt}")
        for hit in report
        for m in hit.matches
    ]
    lines += [probe(ev, "server instructions", f"{m.pattern}: {m.excerpt}") for m in instructions]
    if lines:
        tools = sorted({hit.tool for hit in report})
        where = [f"tool(s) {', '.join(tools)}"] if tools else []
        where += ["the server instructions"] if instructions else []
        patterns = sorted(
            {m.pattern for hit in report for m in hit.matches} | {m.pattern for m in instructions}
        )
        return failed(
            f"Hidden-instruction patterns ({', '.join(patterns)}) found in {' and '.join(where)}.",
            *lines,
        )
    return passed(
        f"No hidden-instruction pattern in {len(ev.probe.tools)} tool description(s).",
        probe(ev, "tools scanned", len(ev.probe.tools)),
    )


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w}


def _sounds_destructive(tool: ToolInfo) -> bool:
    words = _name_words(tool.name)
    first = (tool.description.split() or [""])[0].lower().strip(".,:;")
    # "Deletes ..." and "Delete ..." both lead a destructive description.
    return bool(words & DESTRUCTIVE_VERBS) or first.removesuffix("s") in DESTRUCTIVE_VERBS


def _annotated(tool: ToolInfo) -> bool:
    keys = set(tool.annotations or {})
    return bool(keys & {"destructiveHint", "readOnlyHint", "destructive_hint", "read_only_hint"})


def check_destructive_annotations(ev: Evidence) -> Finding:
    """Tools whose names or descriptions sound destructive declare destructive/read-only hints."""
    early = _no_tools_answer(ev)
    if early is not None:
        return early
    assert ev.probe is not None
    risky = [t for t in ev.probe.tools if _sounds_destructive(t)]
    bare = [t.name for t in risky if not _annotated(t)]
    items = [probe(ev, "destructive-sounding tools", [t.name for t in risky])]
    if bare:
        items.append(probe(ev, "without destructiveHint/readOnlyHint", bare))
        return failed(
            f"{len(bare)} destructive-sounding tool(s) lack annotations, so clients cannot ask "
            f"for confirmation: {', '.join(bare)}.",
            *items,
        )
    if not risky:
        return passed("No tool sounds destructive.", *items)
    return passed("Every destructive-sounding tool declares its hints.", *items)


_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_protocol_version(ev: Evidence) -> Finding:
    """The negotiated protocol version is not older than the fleet's oldest supported one."""
    oldest = ev.config.oldest_protocol_version
    floor = config(ev, "oldest supported protocol version", oldest or "not configured")
    if not oldest:
        return not_applicable("No minimum protocol version is configured.", floor)
    if ev.probe is None:
        return missing_probe(ev)
    version = ev.probe.protocol_version
    items = (probe(ev, "negotiated protocol version", version or "unknown"), floor)
    if not version:
        return no_evidence("The latest probe did not record a protocol version.", *items)
    if not (_VERSION.match(version) and _VERSION.match(oldest)):
        return no_evidence(f"Cannot compare protocol versions {version!r} and {oldest!r}.", *items)
    # Protocol versions are ISO dates, so text order is release order.
    if version < oldest:
        return failed(f"Speaks protocol {version}, older than the supported {oldest}.", *items)
    return passed(f"Speaks protocol {version}.", *items)


def check_tools_list_auth(ev: Evidence) -> Finding:
    """A server that must require auth does not list its tools to an anonymous client."""
    needed = registry(ev, "requires authentication", ev.service.requires_auth)
    if not ev.service.requires_auth:
        return not_applicable("The service is registered as not requiring authentication.", needed)
    if ev.probe is None:
        return missing_probe(ev)
    anonymous = ev.probe.unauthenticated_tools_list
    items = (needed, probe(ev, "tools/list answered without credentials", anonymous))
    if anonymous is None and ev.service.probe_credentials is False and ev.probe.tools:
        # The probe itself carried no credentials, and the tools were listed to it.
        return failed(
            f"The console's probe sends no credentials and the server listed its "
            f"{len(ev.probe.tools)} tool(s) to it: anyone can list (and likely call) them.",
            needed,
            registry(ev, "probe credentials", "none configured in the check settings"),
            probe(ev, "tools listed to the probe", len(ev.probe.tools)),
        )
    if anonymous is None:
        return no_evidence("The probe did not try listing tools without credentials.", *items)
    if anonymous:
        return failed("Anyone can list (and likely call) the tools without credentials.", *items)
    return passed("Listing tools without credentials is refused.", *items)


RULES = [
    Rule(
        id="mcp.tool-poisoning",
        section=SECTION,
        title="Tool metadata carries no hidden instructions",
        rationale=(
            "Models read tool descriptions as instructions; text that overrides prompts, hides "
            "actions from the user or asks to read keys and send them away turns a tool into an "
            "attack on every agent that connects."
        ),
        evidence=(
            "Tool names, descriptions, schema texts and server instructions from the latest "
            "tools/list, scanned for hidden-instruction patterns."
        ),
        severity=Severity.CRITICAL,
        fix=(
            "Remove instructions aimed at the model (hidden directives, 'ignore previous', "
            "invisible characters) from the tool's name, description and schema."
        ),
        applies_to="mcp_server",
        check=check_tool_poisoning,
    ),
    Rule(
        id="mcp.destructive-tool-annotations",
        section=SECTION,
        title="Destructive tools declare their hints",
        rationale=(
            "Clients use destructiveHint/readOnlyHint to ask the user before a tool deletes or "
            "resets something; without them a model can wipe data unprompted."
        ),
        evidence="Tools whose names or descriptions start with delete, drop, remove, reset, ... "
        "and their annotations.",
        severity=Severity.MEDIUM,
        fix=(
            "Add destructiveHint: true (and readOnlyHint: false) to tools that change or "
            "delete data."
        ),
        applies_to="mcp_server",
        check=check_destructive_annotations,
    ),
    Rule(
        id="mcp.protocol-version",
        section=SECTION,
        title="The server speaks a supported protocol version",
        rationale=(
            "Old protocol versions lack the authorization and transport fixes of newer ones and "
            "drop out of client support."
        ),
        evidence="The protocol version negotiated by the latest probe against the fleet minimum.",
        severity=Severity.MEDIUM,
        fix=(
            "Upgrade the server's MCP SDK so it negotiates a protocol version at or after the "
            "fleet's oldest supported one."
        ),
        applies_to="mcp_server",
        check=check_protocol_version,
    ),
    Rule(
        id="mcp.tools-list-requires-auth",
        section=SECTION,
        title="Tools are not listed to anonymous clients",
        rationale=(
            "A server marked as requiring authentication that lists its tools anonymously almost "
            "always executes them anonymously too."
        ),
        evidence=(
            "Whether the probe's unauthenticated tools/list attempt was answered; a probe "
            "without credentials that got the tools listed is such an attempt."
        ),
        severity=Severity.CRITICAL,
        fix=(
            "Require credentials before tools/list (reject unauthenticated sessions) unless "
            "the service is tagged 'public'."
        ),
        applies_to="mcp_server",
        check=check_tools_list_auth,
    ),
]
