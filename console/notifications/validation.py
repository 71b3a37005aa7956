"""Rules for channels and silences, shared by the forms and the API.

Each function raises `django.core.exceptions.ValidationError` keyed by field name.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from checks.probing.errors import redact
from console import secret_refs as refs
from fleet.validation import header_name_problem, validate_http_url, validate_name

if TYPE_CHECKING:
    from console.notifications.models import AlertChannel, Silence

MATCH_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}\Z")
URL_CHANNELS = ("webhook", "slack")


def split_addresses(target: str) -> list[str]:
    return [a.strip() for a in target.replace(";", ",").split(",") if a.strip()]


def validate_channel(channel: AlertChannel) -> None:
    errors: dict[str, str] = {}
    try:
        validate_name(channel.name)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
    problem = _target_problem(channel.type, (channel.target or "").strip())
    if problem:
        errors["target"] = problem
    errors.update(_secret_problems(channel))
    errors.update(_match_problems(channel))
    if errors:
        raise ValidationError(errors)


def _target_problem(kind: str, target: str) -> str | None:
    if not target:
        return "Required: a URL, email addresses or an env:/file: reference."
    if kind in URL_CHANNELS and refs.is_ref(target):
        return refs.ref_problem(target)
    if kind in URL_CHANNELS:
        try:
            validate_http_url(target, "target")
        except ValidationError as exc:
            return exc.message_dict["target"][0]
        return _direct_secret_problem(kind, target)
    if kind == "email":
        addresses = split_addresses(target)
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                return f"'{address}' is not a valid email address."
        return None if addresses else "Give at least one email address."
    return f"Unknown channel type '{kind}': use webhook, slack or email."


def _direct_secret_problem(kind: str, url: str) -> str | None:
    """Secrets are taken only by reference: a URL that is or carries one is refused, so it is
    never stored, shown on the channel page or written to the audit log."""
    how = (
        "put the URL in an allowed environment variable or secret file and give its reference "
        f"({refs.REF_HELP})"
    )
    if kind == "slack":
        return f"A Slack webhook URL is itself a secret: {how}."
    parts = urlsplit(url)
    if parts.username or parts.password:
        return f"The URL carries a user name or password: {how}."
    if redact(parts.query) != parts.query or redact(parts.path) != parts.path:
        return f"The URL carries what looks like a credential (a token or key): {how}."
    return None


def _secret_problems(channel: AlertChannel) -> dict[str, str]:
    header, ref = channel.secret_header, channel.secret_ref
    if not header and not ref:
        return {}
    if channel.type != "webhook":
        return {"secret_header": "Only webhook channels send a secret header."}
    errors = {}
    if not header:
        errors["secret_header"] = "Name the header that carries the secret (e.g. Authorization)."
    elif problem := header_name_problem(header):
        errors["secret_header"] = problem
    if not ref:
        errors["secret_ref"] = f"Say where the header value lives: {refs.REF_HELP}."
    elif problem := refs.ref_problem(ref):
        errors["secret_ref"] = problem
    return errors


def _match_problems(channel: AlertChannel) -> dict[str, str]:
    from console.notifications.models import EVENT_KINDS

    errors = {}
    for field in ("match_teams", "match_environments", "match_services"):
        values = getattr(channel, field)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors[field] = "Must be a list of names."
            continue
        bad = [v for v in values if not MATCH_VALUE_RE.match(v)]
        if bad:
            errors[field] = f"'{bad[0]}' is not a valid name."
    kinds = channel.match_kinds
    if not isinstance(kinds, list) or not all(isinstance(v, str) for v in kinds):
        errors["match_kinds"] = "Must be a list of event kinds."
    elif unknown := [k for k in kinds if k not in EVENT_KINDS]:
        errors["match_kinds"] = f"Unknown event kind '{unknown[0]}': use {', '.join(EVENT_KINDS)}."
    return errors


def validate_silence(silence: Silence) -> None:
    errors: dict[str, str] = {}
    for field in ("match_service", "match_team", "match_environment"):
        value = getattr(silence, field)
        if value and not MATCH_VALUE_RE.match(value):
            errors[field] = f"'{value}' is not a valid name."
    if not (silence.reason or "").strip():
        errors["reason"] = "Say why (for example the change ticket)."
    if silence.starts_at and silence.ends_at and silence.ends_at <= silence.starts_at:
        errors["ends_at"] = "The end must be after the start."
    if errors:
        raise ValidationError(errors)
