"""Fixtures for probe tests: real SDK servers and misbehaving apps on loopback, and a probe runner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from checks.probing.mcp_probe import probe_mcp_server
from checks.probing.sweep import make_client
from checks.probing.types import ProbeOutcome, ProbeTarget
from tests.mcp_servers.sdk_servers import RequestRecorder, demo_server, sse_app, streamable_app
from tests.mcp_servers.serving import served


@pytest.fixture(autouse=True)
def _quiet_sdk_logs() -> Iterator[None]:
    # The SDK logs every session at INFO; test output should show only what matters.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    yield


def run_probe(target: ProbeTarget, **kwargs: Any) -> ProbeOutcome:
    """Run `probe_mcp_server` with a fresh client, the way a worker would."""

    async def go() -> ProbeOutcome:
        async with make_client() as client:
            return await probe_mcp_server(target, client, **kwargs)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def sdk_json() -> Iterator[tuple[str, RequestRecorder]]:
    """SDK Streamable HTTP server answering plain JSON; yields (mcp URL, request recorder)."""
    recorder = RequestRecorder(
        streamable_app(demo_server("demo-json", "1.2.3"), json_response=True)
    )
    with served(recorder) as base:
        yield f"{base}/mcp", recorder


@pytest.fixture(scope="module")
def sdk_sse_mode() -> Iterator[str]:
    """SDK Streamable HTTP server answering with SSE streams (the SDK default)."""
    server = demo_server("demo-sse", "2.0.0", instructions="Use add for sums.")
    with served(streamable_app(server)) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def sdk_legacy_sse() -> Iterator[tuple[str, RequestRecorder]]:
    """SDK legacy HTTP+SSE server; yields (SSE URL, request recorder)."""
    recorder = RequestRecorder(sse_app(demo_server("demo-legacy", "0.1.0")))
    with served(recorder) as base:
        yield f"{base}/sse", recorder
