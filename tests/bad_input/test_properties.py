"""Hypothesis properties: the fleet-file parser and the validators fail only with their own error
type, whatever they are given, and never accept text a database cannot store."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console import limits
from console.input_guard import unstorable_reason
from fleet import validation
from fleet.fleetfile import FleetFileError, import_fleet, parse

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text that sometimes holds what no database can store.
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\x00", "\ud800", "\udfff", "\n", ":", "&", "*", "[", "{", "-"]),
    ),
    max_size=40,
)
FIELDS = ["name", "url", "kind", "account", "provider", "team", "tags", "amount", "scope"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.sampled_from(["http://127.0.0.1:9/mcp", "gcp", "url", "mcp_server", "fleet", "100"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), hostile_text), children, max_size=5),
    ),
    max_leaves=20,
)
fleet_documents = st.fixed_dictionaries(
    {},
    optional={
        "accounts": st.lists(documents, max_size=3),
        "services": st.lists(documents, max_size=3),
        "budgets": st.lists(documents, max_size=2),
    },
)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _dump(document) -> str | None:
    try:
        return yaml.safe_dump(document, allow_unicode=True)
    except (yaml.YAMLError, UnicodeEncodeError):
        return None


@pytest.mark.django_db
@PROPERTY_SETTINGS
@given(text=st.text(max_size=300))
def test_any_text_is_a_fleet_file_or_a_fleet_file_error(text):
    try:
        import_fleet(text, actor="hypothesis", dry_run=True)
    except FleetFileError as exc:
        assert exc.errors and all(isinstance(line, str) for line in exc.errors)


@pytest.mark.django_db
@PROPERTY_SETTINGS
@given(document=fleet_documents)
def test_any_yaml_document_imports_or_fails_with_reasons_and_never_stores_nul(document):
    text = _dump(document)
    if text is None:
        return
    try:
        import_fleet(text, actor="hypothesis", dry_run=True)
    except FleetFileError as exc:
        assert exc.errors
    else:
        stored = _strings(parse(text))
        assert not any(unstorable_reason(s) for s in stored), "unstorable text was accepted"


@PROPERTY_SETTINGS
@given(text=hostile_text)
def test_parse_refuses_nul_and_surrogates_anywhere(text):
    document = {"services": [{"name": "x", "team": text}]}
    dumped = _dump(document)
    if dumped is None:
        return
    try:
        parse(dumped)
    except FleetFileError:
        return
    assert unstorable_reason(text) is None


@PROPERTY_SETTINGS
@given(
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.text(max_size=10),
    ),
    name=st.sampled_from(sorted(limits.BOUNDS)),
)
def test_a_bound_check_answers_for_any_value_and_passes_only_values_in_range(value, name):
    bound = limits.BOUNDS[name]
    problem = limits.number_problem(value, bound)
    if problem is None:
        assert isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        assert bound.low <= value <= bound.high
    else:
        assert isinstance(problem, str) and "between" in problem


VALIDATORS = [
    lambda v: validation.validate_name(v),
    lambda v: validation.validate_http_url(v, "url"),
    lambda v: validation.validate_health_path(v),
    lambda v: validation.validate_tags([v]),
    lambda v: validation.validate_resource("gcp", v),
    lambda v: validation.validate_account_fields("aws", {"region": v, "cluster": v}),
]


@PROPERTY_SETTINGS
@given(value=hostile_text, which=st.integers(0, len(VALIDATORS) - 1))
def test_validators_raise_only_validation_errors_and_never_pass_nul(value, which):
    try:
        VALIDATORS[which](value)
    except ValidationError:
        return
    assert "\x00" not in value, f"validator {which} accepted a NUL"


@given(text=st.text())
def test_unstorable_reason_matches_what_a_utf8_database_accepts(text):
    storable = "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        storable = False
    assert (unstorable_reason(text) is None) == storable
