"""Shared setup for the cloud adapter tests: emulator credentials and a fast retry/poll pace."""

from __future__ import annotations

import pytest

from fleet.operations.clouds.credentials import EMULATOR_ENV
from fleet.operations.clouds.pacing import Pacing

FAST = Pacing(
    attempts=3,
    backoff_initial_s=0.01,
    backoff_max_s=0.02,
    poll_interval_s=0.01,
    poll_max_interval_s=0.03,
    request_timeout_s=5,
)


@pytest.fixture(autouse=True)
def emulator_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every adapter in these tests talks to a loopback fake, so use the emulator switch."""
    monkeypatch.setenv(EMULATOR_ENV, "1")


@pytest.fixture
def progress_lines() -> list[str]:
    return []
