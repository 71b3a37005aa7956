"""Secret references: where a channel's secret lives, never the secret itself.

Two forms, both resolved in the process that sends (the worker), at send time:
- `env:NAME` — an environment variable (NAME: upper-case letters, digits and `_`);
- `file:/absolute/path` — a file, which is how Cloud Run, ECS, Container Apps and Kubernetes mount
  secrets from their secret managers (Secret Manager, Secrets Manager, Key Vault, Secrets).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
REF_HELP = "env:NAME (NAME in upper-case letters, digits and '_') or file:/absolute/path"


class SecretUnavailable(Exception):
    """The reference is well-formed but nothing is there; retrying will not help."""


def is_ref(value: str) -> bool:
    return value.startswith(("env:", "file:"))


def ref_problem(value: str) -> str | None:
    """Why `value` is not a valid reference, or None when it is."""
    kind, _, rest = value.partition(":")
    if kind == "env":
        if not ENV_NAME_RE.match(rest):
            return f"'{rest}' is not an environment variable name: use {REF_HELP}."
        return None
    if kind == "file":
        if not rest.startswith("/") or "\x00" in rest:
            return f"'{rest}' is not an absolute file path: use {REF_HELP}."
        return None
    return f"'{value}' is not a secret reference: use {REF_HELP}."


def resolve(ref: str) -> str:
    """The secret value behind `ref`. Raises SecretUnavailable naming the reference, not the value."""
    kind, _, rest = ref.partition(":")
    if kind == "env":
        value = os.environ.get(rest, "")
        if not value:
            raise SecretUnavailable(f"environment variable {rest} is not set")
        return value
    if kind == "file":
        try:
            value = Path(rest).read_text().strip()
        except OSError as exc:
            raise SecretUnavailable(f"cannot read secret file {rest}: {exc.strerror}") from exc
        if not value:
            raise SecretUnavailable(f"secret file {rest} is empty")
        return value
    raise SecretUnavailable(ref_problem(ref) or f"unknown reference {ref}")
