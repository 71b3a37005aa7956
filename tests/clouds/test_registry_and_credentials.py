"""The adapter registry, the emulator-credentials switch, and the shared retry/label helpers."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from fleet.operations.clouds.base import label_matches
from fleet.operations.clouds.cloudrun import CloudRunAdapter
from fleet.operations.clouds.container_apps import ContainerAppsAdapter
from fleet.operations.clouds.credentials import (
    EMULATOR_ENV,
    azure_connection_verify,
    emulator_mode,
    is_loopback,
)
from fleet.operations.clouds.ecs import EcsAdapter
from fleet.operations.clouds.errors import InvalidRequest, PermissionDenied, Unavailable
from fleet.operations.clouds.kubernetes import KubernetesAdapter
from fleet.operations.clouds.pacing import call_with_retry
from fleet.operations.clouds.registry import adapter_for
from fleet.operations.clouds.types import AccountRef
from tests.clouds.conftest import FAST

LOCAL = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("account", "cls"),
    [
        (AccountRef("g", "gcp", project="p", region="r", endpoint=LOCAL), CloudRunAdapter),
        (AccountRef("a", "aws", region="eu-west-1", endpoint=LOCAL), EcsAdapter),
        (AccountRef("z", "azure", subscription="s", resource_group="g", endpoint="https://127.0.0.1:9"),
         ContainerAppsAdapter),
        (AccountRef("k", "kubernetes", namespace="n", endpoint=LOCAL), KubernetesAdapter),
    ],
)  # fmt: skip
def test_adapter_for_each_provider(account, cls):
    adapter = adapter_for(account, pacing=FAST)
    assert isinstance(adapter, cls) and adapter.account is account


def test_url_accounts_have_no_adapter():
    with pytest.raises(InvalidRequest, match="no cloud adapter"):
        adapter_for(AccountRef("plain", "url"))


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("https://localhost", True),
        ("http://[::1]:5000", True),
        ("127.0.0.2:80", True),
        ("https://run.googleapis.com", False),
        ("http://10.0.0.5:443", False),
        ("", False),
    ],
)
def test_is_loopback(endpoint, loopback):
    assert is_loopback(endpoint) is loopback


def test_emulator_switch_needs_flag_and_loopback_endpoint(monkeypatch, caplog):
    local = AccountRef("dev", "gcp", endpoint="http://127.0.0.1:8181")
    remote = AccountRef("prod", "gcp", endpoint="https://europe-west1-run.googleapis.com")
    plain = AccountRef("prod2", "gcp")

    monkeypatch.delenv(EMULATOR_ENV)
    assert not emulator_mode(local)
    monkeypatch.setenv(EMULATOR_ENV, "1")
    assert emulator_mode(local)
    assert not emulator_mode(remote) and not emulator_mode(plain)
    assert "ignored for account 'prod'" in caplog.text
    monkeypatch.setenv(EMULATOR_ENV, "true")  # only the exact value "1" counts
    assert not emulator_mode(local)


def test_tls_is_verified_outside_emulator_mode(monkeypatch):
    monkeypatch.delenv(EMULATOR_ENV)
    assert azure_connection_verify(AccountRef("z", "azure", endpoint="https://127.0.0.1:1")) is True


def test_label_filter():
    labels = {"mcp-server": "true", "team": "tools"}
    assert label_matches(labels, "")
    assert label_matches(labels, "mcp-server=true") and label_matches(labels, "team")
    assert not label_matches(labels, "mcp-server=false") and not label_matches(labels, "env")


def test_retry_stops_on_non_retryable_errors_and_retries_retryable_ones():
    calls: list[int] = []

    def denied():
        calls.append(1)
        raise PermissionDenied("no")

    with pytest.raises(PermissionDenied):
        call_with_retry(denied, FAST)
    assert len(calls) == 1

    outcomes = iter([Unavailable("down"), Unavailable("down"), "ok"])

    def flaky():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retry(flaky, FAST) == "ok"


@pytest.mark.parametrize(
    ("module", "probe_path"),
    [
        ("fleet.demo.emulators.kubernetes", "/apis/apps/v1/namespaces/mcp/deployments"),
        (
            "fleet.demo.emulators.cloudrun",
            "/v2/projects/demo-project/locations/us-central1/services",
        ),
    ],
)
def test_fakes_run_standalone_for_the_demo(module, probe_path, unused_port):
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(unused_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{unused_port}{probe_path}"
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(url, headers={"Authorization": "Bearer demo"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "fake did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        body = answer.json()
        names = [i["metadata"]["name"] for i in body.get("items", [])] or [
            s["name"].rsplit("/", 1)[-1] for s in body.get("services", [])
        ]
        assert "mcp-weather" in names
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
