"""Detect hidden instructions in MCP tool metadata ("tool poisoning").

A model reads every tool description a server advertises, so a server (or a compromised
dependency) can smuggle orders into them: text addressed to the model, concealed tags, invisible
Unicode, or requests to read local secrets and send them elsewhere. The patterns below look for
those shapes, not for topics, so an honest "Delete a note by id" or "Fetch the page at a URL"
stays clean. Each match names the pattern and quotes a short excerpt for the reviewer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from checks.probing.types import ToolInfo


@dataclass(frozen=True)
class PoisonMatch:
    """One suspicious pattern found in one piece of text."""

    pattern: str  # stable pattern id, e.g. "override-instructions"
    description: str
    excerpt: str


@dataclass(frozen=True)
class ToolPoisoning:
    """Suspicious patterns found in one field of one tool."""

    tool: str
    field: str  # "description", "title", "inputSchema.properties.path.description", ...
    matches: tuple[PoisonMatch, ...]


_FLAGS = re.IGNORECASE | re.DOTALL

_TEXT_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "override-instructions",
        "tells the model to ignore or override its other instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+)?(?:of\s+)?"
            r"(?:the\s+|your\s+)?(?:previous|prior|above|earlier|preceding|system|other|original)"
            r"\s+(?:instructions?|prompts?|rules?|directions?|guidelines?)",
            _FLAGS,
        ),
    ),
    (
        "conceal-from-user",
        "asks the model to hide something from the user",
        re.compile(
            r"\b(?:do\s+not|don'?t|never|without)\s+(?:\w+\s+){0,2}?"
            r"(?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|notify|"
            r"notifying|alert|alerting|disclos\w*)\b(?:\s+\w+){0,4}?\s+(?:the\s+)?users?\b",
            _FLAGS,
        ),
    ),
    (
        "user-must-not-know",
        "asks the model to keep the user unaware",
        re.compile(
            r"\b(?:the\s+)?user\s+(?:must|should|may)\s+not\s+(?:know|see|notice|be\s+told)", _FLAGS
        ),
    ),
    (
        "concealed-tag",
        "wraps text in a tag meant for the model, such as <IMPORTANT> or <secret>",
        re.compile(
            r"<\s*/?\s*(?:important|secret|system|hidden|instructions?|admin|critical|sudo|"
            r"assistant|override)\b[^>]*>",
            _FLAGS,
        ),
    ),
    (
        "role-impersonation",
        "imitates a system or assistant turn of the conversation",
        re.compile(
            r"(?:^|\n)\s*(?:system|assistant)\s*:|<\|im_start\|>|\[/?INST\]|###\s*system\b",
            _FLAGS,
        ),
    ),
    (
        "sensitive-file",
        "mentions reading local credential or configuration files",
        re.compile(
            r"~/\.ssh|\.ssh/|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|(?<![\w.])\.env\b|"
            r"\.aws/credentials|\.netrc\b|/etc/(?:passwd|shadow)\b|\.kube/config|"
            r"\bmcp\.json\b|\.git-credentials|\.npmrc\b|\.pypirc\b",
            _FLAGS,
        ),
    ),
    (
        "exfiltrate",
        "talks about exfiltrating data",
        re.compile(r"\bexfiltrat\w*", _FLAGS),
    ),
)

_SEND_VERB = re.compile(
    r"\b(?:send|sends|sending|post|posting|upload|uploading|forward|forwarding|transmit\w*|"
    r"leak\w*|copy|copying)\b",
    _FLAGS,
)
_SENSITIVE_NOUN = re.compile(
    r"\b(?:contents?|credentials?|keys?|tokens?|secrets?|passwords?|conversation|history|"
    r"files?|environment|data|chat|emails?)\b",
    _FLAGS,
)
_URL = re.compile(r"https?://[^\s\"'<>)]+", _FLAGS)
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?\n]|$)")

# Characters that render as nothing or reorder text: a reader sees one thing, the model another.
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]"
)


def scan_text(text: str) -> list[PoisonMatch]:
    """Every hidden-instruction pattern found in one piece of text (empty for clean text)."""
    if not text:
        return []
    matches = _invisible_matches(text)
    visible = _INVISIBLE.sub("", text)
    for pattern_id, description, regex in _TEXT_PATTERNS:
        found = regex.search(visible)
        if found:
            matches.append(PoisonMatch(pattern_id, description, _excerpt(visible, found)))
    matches.extend(_exfiltration_matches(visible))
    return matches


def scan_tools(tools: list[ToolInfo]) -> list[ToolPoisoning]:
    """Scan every text field a model sees for every tool; only fields with matches are returned."""
    report = []
    for tool in tools:
        for field_name, text in _tool_texts(tool):
            matches = scan_text(text)
            if matches:
                report.append(ToolPoisoning(tool.name, field_name, tuple(matches)))
    return report


def _tool_texts(tool: ToolInfo) -> Iterator[tuple[str, str]]:
    yield "name", tool.name
    yield "description", tool.description
    title = tool.annotations.get("title") if isinstance(tool.annotations, dict) else None
    if isinstance(title, str):
        yield "annotations.title", title
    yield from _schema_texts(tool.input_schema, "inputSchema")


def _schema_texts(node: object, path: str) -> Iterator[tuple[str, str]]:
    """Descriptions, titles and defaults anywhere in a JSON schema: poisoning hides there too."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}"
            if key in ("description", "title", "default") and isinstance(value, str):
                yield child, value
            else:
                yield from _schema_texts(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schema_texts(value, f"{path}[{index}]")


def _invisible_matches(text: str) -> list[PoisonMatch]:
    found = _INVISIBLE.findall(text)
    if not found:
        return []
    codes = sorted({f"U+{ord(ch):04X}" for ch in found})
    matches = [
        PoisonMatch(
            "invisible-unicode",
            "contains invisible or bidirectional-control characters",
            ", ".join(codes[:8]) + (" ..." if len(codes) > 8 else ""),
        )
    ]
    # Unicode tag characters mirror ASCII; decoding them shows the text a reader cannot see.
    hidden = "".join(chr(ord(ch) - 0xE0000) for ch in found if 0xE0020 <= ord(ch) <= 0xE007E)
    if hidden:
        matches.append(
            PoisonMatch(
                "hidden-tag-text", "carries text encoded in Unicode tag characters", hidden[:120]
            )
        )
        matches.extend(m for m in scan_text(hidden) if m.pattern != "invisible-unicode")
    return matches


def _exfiltration_matches(text: str) -> list[PoisonMatch]:
    """A sentence that sends something sensitive to a URL."""
    for sentence in _SENTENCE.findall(text):
        if (
            _URL.search(sentence)
            and _SEND_VERB.search(sentence)
            and _SENSITIVE_NOUN.search(sentence)
        ):
            return [
                PoisonMatch(
                    "send-elsewhere",
                    "asks for data to be sent to an outside address",
                    _shorten(sentence.strip()),
                )
            ]
    return []


def _excerpt(text: str, found: re.Match[str]) -> str:
    start, end = max(found.start() - 30, 0), min(found.end() + 30, len(text))
    return _shorten(text[start:end].strip())


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
