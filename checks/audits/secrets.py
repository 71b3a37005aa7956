"""Spot credentials stored as plain environment values instead of secret-manager references.

Anyone who can read a service's configuration (console users, CI logs, `describe` output) can read
a plain environment value, so keys belong in a secret manager and the service should reference
them. A variable is flagged by its name (`*_KEY`, `*_TOKEN`, `*SECRET*`, `*PASSWORD*`, ...) or by
a value that has a well-known credential shape (OpenAI `sk-`, AWS `AKIA`, GitHub `ghp_`, JWTs,
private keys, URLs with a password). Values are never echoed: a finding shows the name, the reason
and the value's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleet.operations.clouds.types import EnvVar

_NAME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name ends in _KEY", re.compile(r"(?:^|_)(?:API_?)?KEY$", re.I)),
    ("name ends in _TOKEN", re.compile(r"(?:^|_)TOKEN$", re.I)),
    ("name contains SECRET", re.compile(r"SECRET", re.I)),
    ("name contains PASSWORD", re.compile(r"PASSW(?:OR)?D|(?:^|_)PWD$", re.I)),
    ("name contains CREDENTIAL", re.compile(r"CREDENTIAL", re.I)),
    ("name contains PRIVATE_KEY", re.compile(r"PRIVATE_?KEY", re.I)),
)

# Names that match the patterns above but conventionally hold public material.
_PUBLIC_NAME = re.compile(r"PUBLIC|PUBLISHABLE", re.I)

_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("value looks like an OpenAI/Anthropic key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}")),
    (
        "value looks like an AWS access key id (AKIA...)",
        re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ),
    (
        "value looks like a GitHub token (ghp_...)",
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{20,}"),
    ),
    (
        "value looks like a JWT",
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    ),
    ("value looks like a Slack token (xox...)", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("value looks like a Google API key (AIza...)", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("value looks like a Stripe secret key", re.compile(r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}")),
    ("value contains a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    (
        "value is a URL with a password",
        re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I),
    ),
)

# Plain values that point at a secret store rather than holding the secret.
_REFERENCE = re.compile(
    r"^(?:arn:aws:(?:secretsmanager|ssm):|projects/[^/]+/secrets/|sm://|secretref:|"
    r"@Microsoft\.KeyVault\(|vault:|\$\{?[A-Z_][A-Z0-9_]*\}?$)",
    re.I,
)
_HARMLESS_VALUES = {"", "true", "false", "yes", "no", "on", "off", "0", "1", "none", "null"}


@dataclass(frozen=True)
class PlainSecret:
    """A variable that appears to hold a credential in plain text."""

    name: str
    reason: str
    value_length: int

    def describe(self) -> str:
        """One line for evidence display, without the value."""
        return f"{self.name}: {self.reason} (plain value, {self.value_length} chars, redacted)"


def find_plain_secrets(env: list[EnvVar]) -> list[PlainSecret]:
    """Variables whose name or value looks like a credential and that are not secret references."""
    hits = []
    for var in env:
        reason = _reason(var)
        if reason:
            hits.append(PlainSecret(var.name, reason, len(var.value or "")))
    return hits


def _reason(var: EnvVar) -> str:
    if var.is_secret_ref or var.value is None:
        return ""
    value = var.value.strip()
    if value.lower() in _HARMLESS_VALUES or _REFERENCE.match(value):
        return ""
    for reason, pattern in _VALUE_PATTERNS:
        if pattern.search(value):
            return reason
    if _PUBLIC_NAME.search(var.name):
        return ""
    for reason, pattern in _NAME_PATTERNS:
        if pattern.search(var.name):
            return reason
    return ""
