"""The bounds of every number and date a person can type, in one table.

Forms, the API, the fleet file and the CLI all reach the same service functions, and those check
their numbers here, so each value has one documented range (README: "Bad input and limits") and one
error message naming the field and the range. The ranges keep every value far from what overflows
a datetime (year 9999), a Decimal column or a database integer on SQLite or PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

Number = int | float | Decimal


@dataclass(frozen=True)
class Bound:
    low: Number
    high: Number
    unit: str = ""
    whole: bool = True  # whole numbers only

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"between {self.low} and {self.high}{unit}"


# Each entry: the range, its unit, and whether it must be a whole number.
BOUNDS: dict[str, Bound] = {
    # Health checks (per service).
    "interval_seconds": Bound(10, 86_400, "seconds"),
    "timeout_seconds": Bound(0.1, 120, "seconds", whole=False),
    "failure_threshold": Bound(1, 100, "checks"),
    "recovery_threshold": Bound(1, 100, "checks"),
    "slow_ms": Bound(1, 600_000, "ms"),
    "expected_status": Bound(100, 599),
    # Budgets (a Decimal column of 14 digits, 2 after the point).
    "amount": Bound(Decimal("0.01"), Decimal("999999999999.99"), whole=False),
    "threshold.percent": Bound(1, 1000, "%", whole=False),
    # Scaling (desired settings) and the what-if estimate.
    "min_instances": Bound(0, 1000, "instances"),
    "max_instances": Bound(1, 1000, "instances"),
    "concurrency": Bound(1, 1000, "requests per instance"),
    "requests_per_month": Bound(0, 10**12, "requests"),
    "request_seconds": Bound(0.001, 3600, "seconds", whole=False),
    "avg_instances": Bound(0, 1000, "instances", whole=False),
    "estimate.max_instances": Bound(0, 1000, "instances"),  # a what-if may price zero
    # Rolling redeploys and releases.
    "batch_concurrency": Bound(1, 50, "services at once"),
    "canary_percent": Bound(1, 99, "%"),
    "canary_watch_s": Bound(1, 3600, "seconds"),
    # Alert silences: a window of at most a year, starting at most a year ahead.
    "minutes": Bound(1, 366 * 24 * 60, "minutes"),
    # Audits.
    "attestation_expiry_days": Bound(1, 3650, "days"),
    "tls_warning_days": Bound(1, 365, "days"),
    # Paging through API lists.
    "limit": Bound(1, 1000),
    "offset": Bound(0, 1_000_000),
    # Saved dashboard views one person may keep.
    "saved_views_per_user": Bound(1, 100, "views"),
}

# The longest free text a person may type, by field (characters).
TEXT_LENGTHS: dict[str, int] = {
    # Acknowledging an alert or an alert group: why, or who is on it.
    "note": 500,
}


@dataclass(frozen=True)
class TextRule:
    """The length and characters a typed name may have (checked after trimming outer spaces)."""

    max_length: int
    pattern: re.Pattern
    allowed: str

    def describe(self) -> str:
        return f"1 to {self.max_length} characters: {self.allowed}"


# Names a person types and others read in lists.
TEXT: dict[str, TextRule] = {
    "saved_view.name": TextRule(
        60,
        re.compile(r"[^\W_][\w .,:()/+&'-]*\Z"),
        "letters, digits, spaces and . , : ( ) / + & ' - _, starting with a letter or digit",
    ),
}

# How long the query of one saved view may be (its filters and sort).
SAVED_VIEW_QUERY_MAX = 2000


def text_problem(value: object, rule: TextRule) -> str | None:
    """Why `value` is not a name `rule` accepts, or None when it is."""
    if not isinstance(value, str) or not value.strip():
        return f"is required ({rule.describe()})."
    text = value.strip()
    if len(text) > rule.max_length:
        return f"is {len(text)} characters long; at most {rule.max_length} are allowed."
    if not rule.pattern.match(text[0]):
        return f"must start with a letter or digit (got {text[0]!r}); use {rule.allowed}."
    if not rule.pattern.match(text):
        bad = next((c for c in text if not rule.pattern.match("a" + c)), text[0])
        shown = repr(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
        return f"cannot contain {shown}: use {rule.allowed}."
    return None


def check_name(field: str, value: object, rule_name: str) -> str:
    """The trimmed name, or ValidationError({field: ...}) naming what is wrong with it."""
    problem = text_problem(value, TEXT[rule_name])
    if problem:
        raise ValidationError({field: f"{field.capitalize()} {problem}"})
    return str(value).strip()


MAX_SILENCE = timedelta(days=366)
MAX_SCHEDULE_AHEAD = timedelta(days=366)


def query_field(name: str, default: Number) -> Any:
    """A pydantic Field for an API query parameter with BOUNDS[name] as its range."""
    from pydantic import Field

    bound = BOUNDS[name]
    return Field(default, ge=bound.low, le=bound.high, description=bound.describe())


def number_problem(value: object, bound: Bound) -> str | None:
    """Why `value` is not a number within `bound`, or None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"must be a number {bound.describe()} (got {value!r})."
    try:
        finite = math.isfinite(value) if isinstance(value, float) else Decimal(value).is_finite()
    except (InvalidOperation, OverflowError):
        finite = False
    if not finite:
        return f"must be a finite number {bound.describe()}."
    if bound.whole and value != int(value):
        return f"must be a whole number {bound.describe()} (got {value})."
    if not bound.low <= value <= bound.high:
        shown = value if len(str(value)) <= 30 else f"{str(value)[:27]}..."
        return f"must be {bound.describe()} (got {shown})."
    return None


def check_number(field: str, value: object, bound_name: str | None = None) -> None:
    """Raise ValidationError({field: ...}) unless `value` is within BOUNDS[bound_name or field]."""
    problem = number_problem(value, BOUNDS[bound_name or field])
    if problem:
        raise ValidationError({field: problem})


def check_text(field: str, value: object, bound_name: str | None = None) -> str:
    """The text stripped; raise ValidationError({field: ...}) unless it is text within
    TEXT_LENGTHS[bound_name or field] characters."""
    limit = TEXT_LENGTHS[bound_name or field]
    if not isinstance(value, str):
        raise ValidationError({field: f"must be text of at most {limit} characters."})
    text = value.strip()
    if len(text) > limit:
        raise ValidationError({field: f"must be at most {limit} characters (got {len(text)})."})
    return text


def number_problems(values: Mapping[str, object], names: tuple[str, ...]) -> dict[str, str]:
    """Every field of `names` present (and not None) in `values` that is out of bounds."""
    problems: dict[str, str] = {}
    for name in names:
        value = values.get(name)
        if value is not None and (problem := number_problem(value, BOUNDS[name])):
            problems[name] = problem
    return problems


def window_problems(
    starts_at: datetime | None, ends_at: datetime | None, now: datetime
) -> dict[str, str]:
    """A time window (silences): starts within a year from now, lasts at most a year."""
    problems: dict[str, str] = {}
    try:
        if starts_at is not None and abs(starts_at - now) > MAX_SCHEDULE_AHEAD:
            problems["starts_at"] = "must be within 366 days of now."
        if starts_at is not None and ends_at is not None and ends_at - starts_at > MAX_SILENCE:
            problems["ends_at"] = "must be at most 366 days after the start."
    except OverflowError:
        problems["starts_at"] = "is out of range."
    return problems
