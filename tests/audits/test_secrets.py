"""Plain-text credential detection in environment variables."""

from __future__ import annotations

import pytest

from checks.audits.secrets import find_plain_secrets
from fleet.operations.clouds.types import EnvVar

FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENAI_API_KEY", "not-shaped-like-a-key-but-named-one"),
        ("GITHUB_TOKEN", "abc123abc123"),
        ("CLIENT_SECRET", "hunter2hunter2"),
        ("DB_PASSWORD", "hunter2"),
        ("MCP_CONFIG", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("UPSTREAM", "AKIAIOSFODNN7EXAMPLE"),
        ("CI_HELPER", "ghp_" + "a1B2" * 9),
        ("SESSION", FAKE_JWT),
        ("DATABASE_URL", "postgres://app:s3cr3t@db.internal:5432/app"),
        ("TLS_KEY_PEM", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."),
    ],
)
def test_plain_credentials_are_flagged(name, value):
    [hit] = find_plain_secrets([EnvVar(name, False, value)])
    assert hit.name == name
    assert value not in hit.describe()  # the value is never echoed


@pytest.mark.parametrize(
    ("name", "value", "is_ref"),
    [
        ("OPENAI_API_KEY", None, True),  # a Secret Manager reference
        ("OPENAI_API_KEY", "arn:aws:secretsmanager:us-east-1:123:secret:openai", False),
        ("API_KEY", "projects/acme/secrets/openai/versions/latest", False),
        ("PORT", "8080", False),
        ("GCS_BUCKET", "notes-data", False),
        ("STRIPE_PUBLISHABLE_KEY", "pk_test_abc123", False),
        ("FEATURE_TOKEN_AUTH", "true", False),
        ("MONKEY", "bananas", False),
        ("API_KEY", "", False),
    ],
)
def test_references_and_ordinary_values_are_not_flagged(name, value, is_ref):
    assert find_plain_secrets([EnvVar(name, is_ref, value)]) == []
