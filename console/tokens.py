"""API token state changes: issue and revoke, each in one transaction with its audit-log row."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from console.audit import record_action
from console.models import ApiToken


def issue_token(user: Any, name: str, *, source: str = "ui") -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the raw value, which is shown once."""
    with transaction.atomic():
        token, raw = ApiToken.issue(user, name[:100])
        record_action(
            user, "create", token, source=source, after={"name": token.name, "prefix": token.prefix}
        )
    return token, raw


def revoke_token(user: Any, token: ApiToken, *, source: str = "ui") -> None:
    with transaction.atomic():
        record_action(
            user,
            "delete",
            token,
            source=source,
            before={"name": token.name, "prefix": token.prefix},
        )
        token.delete()
