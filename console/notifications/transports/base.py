"""What the HTTP transports share: one POST with timeouts, and what counts as success."""

from __future__ import annotations

import httpx
from django.conf import settings

from checks.probing.errors import describe_body, without_quoted_bytes
from console import egress, secret_refs
from console.egress import EgressRefused, EgressTransport

USER_AGENT = "mcp-fleet-console-alerts/1"


class DeliveryError(Exception):
    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after


def resolve_target(target: str) -> str:
    """The URL itself, or the URL behind an env:/file: reference (inside the allow-list)."""
    if not secret_refs.is_ref(target):
        return target
    try:
        return secret_refs.resolve(target)
    except secret_refs.SecretRefError as exc:
        raise DeliveryError(f"Target URL unavailable: {exc}.", retryable=False) from None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is only described, never kept


def _read_capped(response: httpx.Response) -> bytes:
    """The answer up to MAX_RESPONSE_BYTES; a longer one is cut off, not held in memory."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            return body[:MAX_RESPONSE_BYTES]
    return body


def post_json(url: str, payload: dict, headers: dict[str, str] | None = None) -> int:
    """POST JSON; 2xx returns the status, anything else raises DeliveryError."""
    timeout = httpx.Timeout(getattr(settings, "ALERT_HTTP_TIMEOUT_SECONDS", 10.0), connect=5.0)
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    # Through the egress policy: resolved once, every address checked, redirects not followed.
    try:
        with (
            httpx.Client(transport=EgressTransport(), timeout=timeout) as client,
            client.stream("POST", url, json=payload, headers=all_headers) as response,
        ):
            body = _read_capped(response)
    except EgressRefused as exc:
        raise DeliveryError(str(exc), retryable=False) from exc
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"Timed out after {timeout.read:g}s: {exc}", retryable=True) from exc
    except httpx.ProtocolError as exc:  # not HTTP (Redis, SSH, ...): never quote what it sent
        raise DeliveryError(
            "the target broke the HTTP protocol or closed the connection "
            f"({without_quoted_bytes(str(exc))})",
            retryable=True,
        ) from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{type(exc).__name__}: {without_quoted_bytes(str(exc))}", retryable=True
        ) from exc
    code = response.status_code
    if 200 <= code < 300:
        return code
    if response.is_redirect:
        raise DeliveryError(_redirect_message(response), retryable=False, status_code=code)
    # Viewers read delivery errors: the answer by status, content type and size, never its body.
    kind = response.headers.get("content-type", "")
    message = f"HTTP {code} ({describe_body(body, kind)})"
    retryable = code >= 500 or code in (408, 429)
    raise DeliveryError(
        message, retryable=retryable, status_code=code, retry_after=_retry_after(response)
    )


def _redirect_message(response: httpx.Response) -> str:
    """Redirects are never followed: a webhook posts only where the channel says."""
    location = response.headers.get("location", "")
    target = str(response.url.join(location)) if location else "nowhere"
    message = f"HTTP {response.status_code} redirect to {target} not followed"
    if problem := egress.url_problem(target):
        message += f" (egress refused: {problem})"
    return message + "; set the channel's target to the final URL."
