"""HTTP health probe for agent backends and services with a health path: status and a JSON field."""

from __future__ import annotations

import json
from typing import Any

from checks.probing.clock import PhaseClock
from checks.probing.errors import (
    NeedsCredentials,
    ProbeFailure,
    body_excerpt,
    describe_body,
    redact,
)
from checks.probing.types import ProbeOutcome, ProbeTarget
from checks.probing.wire import DEFAULT_MAX_RESPONSE_BYTES, Client, HttpChannel, parse_url
from fleet.validation import join_health_url

_MISSING = object()


async def probe_http_health(
    target: ProbeTarget,
    client: Client,
    *,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    deadline_s: float | None = None,
) -> ProbeOutcome:
    """GET `target.health_path` (or "/") relative to `target.url` and judge the answer."""
    clock = PhaseClock(target.timeout_s, deadline_s)
    outcome = ProbeOutcome(ok=False, phases_ms=clock.phases_ms)
    auth = (target.auth_header, target.auth_value) if target.auth_header else None
    channel = HttpChannel(
        client,
        clock,
        auth=auth,
        auth_origin=target.url,
        max_bytes=max_response_bytes,
        network=target.network,
    )
    try:
        try:
            url = parse_url(join_health_url(target.url, target.health_path))
        except ValueError as exc:
            raise ProbeFailure("health", f"health path refused: {exc}") from None
        async with (
            clock.phase("health", "health"),
            channel.send(
                "GET", url, phase="health", headers={"Accept": "application/json, */*"}
            ) as (
                resp,
                _,
            ),
        ):
            outcome.http_status = resp.status_code
            body = await channel.read_capped(resp, "health")
            kind = resp.headers.get("content-type", "").split(";", 1)[0].strip()
        if resp.status_code != target.expected_status:
            challenge = channel.credentials_challenge(
                resp, "health", None, body_excerpt(body, kind)
            )
            if challenge is not None:
                raise challenge  # it answered and asks for credentials: not down
            raise ProbeFailure(
                "health",
                f"expected HTTP {target.expected_status} from {url.path} but got "
                f"{resp.status_code} ({describe_body(body, kind)}){channel.withheld_note()}",
                excerpt=body_excerpt(body, kind),
            )
        if target.expected_json_field:
            check_json_field(body, target.expected_json_field)
        outcome.ok = True
    except ProbeFailure as failure:
        outcome.error, outcome.phase = str(failure), failure.phase
        outcome.body_excerpt = failure.excerpt
        outcome.needs_credentials = isinstance(failure, NeedsCredentials)
        outcome.lean_unsupported = getattr(failure, "reason", "")
    finally:
        await channel.aclose()
    if channel.connect_ms is not None:
        clock.phases_ms.setdefault("connect", channel.connect_ms)
    outcome.latency_ms = clock.phases_ms["total"] = clock.elapsed_ms()
    return outcome


def check_json_field(body: bytes, spec: str) -> None:
    """`spec` is "a.b" (must exist) or "a.b=value" (must equal); raise ProbeFailure otherwise."""
    path, has_value, wanted = spec.partition("=")
    try:
        document = json.loads(body)
    except ValueError:
        raise ProbeFailure(
            "health", f"the body is not JSON, so {path!r} cannot be checked"
        ) from None
    value: Any = document
    for key in path.strip().split("."):
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            raise ProbeFailure("health", f"the JSON body has no {path.strip()!r} field")
    if has_value and _as_text(value) != wanted.strip():
        raise ProbeFailure(
            "health",
            f"{path.strip()!r} is not {wanted.strip()!r}",
            excerpt=f"{path.strip()!r} is {redact(_as_text(value))[:200]!r}",
        )


def _as_text(value: Any) -> str:
    """Render a JSON value the way an operator would type it in a config (true, null, 3)."""
    return value if isinstance(value, str) else json.dumps(value)
