"""Fixtures for the secret-reference tests: API clients per role and the webhook receiver."""

from __future__ import annotations

import pytest
from django.test import Client

from console.models import ApiToken
from tests.notifications.conftest import receiver  # noqa: F401 (a fixture)


@pytest.fixture
def operator_api(operator) -> Client:
    _, raw = ApiToken.issue(operator, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def viewer_api(viewer) -> Client:
    _, raw = ApiToken.issue(viewer, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
