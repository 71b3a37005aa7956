"""OAuth 2.0 client credentials for probes (RFC 6749 §4.4), as the MCP authorization spec asks.

The worker trades the client id and secret (read through a secret reference) for an access token
at the configured token endpoint, through the egress policy, and keeps the token in memory until
shortly before `expires_in` runs out; the probe then sends it as a Bearer token to the service's
own origin only. Neither the secret nor the token is stored or shown; errors name the endpoint's
status and the OAuth error code (RFC 6749 §5.2), never its body.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import httpx

from console import egress

EXPIRY_MARGIN_S = 30.0  # renew this long before the endpoint says the token expires
NO_EXPIRY_CACHE_S = 300.0  # a token without expires_in is reused this long
# The error codes RFC 6749 §5.2 and RFC 8707 §2 define: only these are repeated (viewers read
# probe errors); anything else an endpoint writes there is its own text.
_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
    }
)
_MAX_BODY = 64 * 1024


class TokenError(Exception):
    """The token endpoint did not hand out a usable access token; the message says why."""


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    scope: str = ""
    resource: str = ""  # RFC 8707: the MCP server the token is for

    def cache_key(self) -> tuple[str, ...]:
        secret = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.token_url, self.client_id, secret, self.scope, self.resource)


_cache: dict[tuple[str, ...], tuple[str, float]] = {}
_lock = threading.Lock()


def access_token(creds: ClientCredentials, timeout_s: float = 10.0) -> str:
    """A valid access token for `creds`: the cached one, or a new one from the token endpoint."""
    key = creds.cache_key()
    with _lock:
        cached = _cache.get(key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    token, lifetime = _request_token(creds, timeout_s)
    with _lock:
        _cache[key] = (token, time.monotonic() + lifetime)
    return token


def forget_tokens() -> None:
    """Drop every cached token (tests; a rotated secret gets a new key anyway)."""
    with _lock:
        _cache.clear()


def _request_token(creds: ClientCredentials, timeout_s: float) -> tuple[str, float]:
    form = {"grant_type": "client_credentials"}
    if creds.scope:
        form["scope"] = creds.scope
    if creds.resource:
        form["resource"] = creds.resource
    where = f"the token endpoint {_origin(creds.token_url)}"
    try:
        # client_secret_basic (RFC 6749 §2.3.1), the method every server must support.
        with (
            httpx.Client(
                transport=egress.EgressTransport(), timeout=timeout_s, follow_redirects=False
            ) as client,
            client.stream(
                "POST",
                creds.token_url,
                data=form,
                auth=(creds.client_id, creds.client_secret),
                headers={"Accept": "application/json"},
            ) as response,
        ):
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > _MAX_BODY:  # never held in memory past the cap
                    raise TokenError(f"{where} answered with more than {_MAX_BODY // 1024} KiB")
    except egress.EgressRefused as exc:
        raise TokenError(f"{where}: {exc}") from None
    except httpx.HTTPError as exc:
        raise TokenError(f"{where} could not be reached ({type(exc).__name__})") from None
    payload = _json(body)
    if response.status_code != 200:
        code = payload.get("error") if isinstance(payload, dict) else None
        named = f", error {code}" if isinstance(code, str) and code in _ERROR_CODES else ""
        raise TokenError(f"{where} answered HTTP {response.status_code}{named}")
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token or any(ord(c) < 33 for c in token):
        raise TokenError(f"{where} answered without a usable access_token")
    kind = payload.get("token_type", "Bearer")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise TokenError(f"{where} handed out a token that is not a Bearer token (token_type)")
    expires = payload.get("expires_in")
    if isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0:
        return token, max(0.0, float(expires) - EXPIRY_MARGIN_S)
    return token, NO_EXPIRY_CACHE_S


def _json(body: bytes) -> object:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return None


def _origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(unparsable URL)"
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
