"""OAuth 2.0 client credentials for probes (RFC 6749 §4.4), as the MCP authorization spec asks.

The worker trades the client id and secret (read through a secret reference) for an access token
at the configured token endpoint, through the egress policy, and keeps the token in memory until
shortly before `expires_in` runs out; the probe then sends it as a Bearer token to the service's
own origin only. Neither the secret nor the token is stored or shown; errors name the endpoint's
status and the OAuth error code (RFC 6749 §5.2), never its body.

The request takes the probe's way out (`checks.probing.network.ProbeNetwork`, built by
`checks.targets`): the same forward proxy (CONNECT for https://, absolute form for http://) and
the same TLS trust and client certificate, so a token endpoint inside an enterprise network is
reached the way the service is. The egress policy judges the proxy's address at connect time and
the token endpoint as the probe judges a proxied target.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

import httpx

from checks.probing.network import DEFAULT_NETWORK, ProbeNetwork, ssl_context
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


def access_token(
    creds: ClientCredentials, timeout_s: float = 10.0, network: ProbeNetwork = DEFAULT_NETWORK
) -> str:
    """A valid access token for `creds`: the cached one, or a new one from the token endpoint,
    asked through `network`'s proxy with its TLS trust and client certificate."""
    key = creds.cache_key()
    with _lock:
        cached = _cache.get(key)
    if cached and cached[1] > time.monotonic():
        return cached[0]
    token, lifetime = _request_token(creds, timeout_s, network)
    with _lock:
        _cache[key] = (token, time.monotonic() + lifetime)
    return token


def forget_tokens() -> None:
    """Drop every cached token (tests; a rotated secret gets a new key anyway)."""
    with _lock:
        _cache.clear()


def _request_token(
    creds: ClientCredentials, timeout_s: float, network: ProbeNetwork
) -> tuple[str, float]:
    form = {"grant_type": "client_credentials"}
    if creds.scope:
        form["scope"] = creds.scope
    if creds.resource:
        form["resource"] = creds.resource
    where = f"the token endpoint {_origin(creds.token_url)}"
    proxy = network.proxy
    policy = egress.current()
    try:
        if proxy is not None:
            _check_proxied(policy, creds.token_url)
        # client_secret_basic (RFC 6749 §2.3.1), the method every server must support.
        with (
            httpx.Client(
                transport=_transport(policy, network),
                timeout=timeout_s,
                follow_redirects=False,
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
        via = f" (through {proxy.describe()})" if proxy is not None else ""
        raise TokenError(f"{where}{via}: {exc}") from None
    except httpx.ProxyError as exc:
        assert proxy is not None
        status = str(exc)[:3] if str(exc)[:3].isdigit() else ""
        said = f" (HTTP {status})" if status else ""
        raise TokenError(f"{where}: {proxy.describe()} refused the way to it{said}") from None
    except httpx.HTTPError as exc:
        via = f" through {proxy.describe()}" if proxy is not None else ""
        raise TokenError(f"{where} could not be reached{via} ({type(exc).__name__})") from None
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


def _transport(policy: egress.EgressPolicy, network: ProbeNetwork) -> egress.EgressTransport:
    """An egress-checked transport with the probe's TLS context (CA bundle, client certificate,
    skip-verify where audited) and, when the probe uses one, its proxy: TLS to an https://
    proxy is verified with the same trust, as the probe's httpx path does."""
    tls = ssl_context(network.tls, alpn=())
    proxy = None
    if network.proxy is not None:
        auth = network.proxy.authorization
        proxy = httpx.Proxy(
            network.proxy.url,
            headers={"Proxy-Authorization": auth} if auth else None,
            ssl_context=tls if network.proxy.scheme == "https" else None,
        )
    return egress.EgressTransport(policy, verify=tls, proxy=proxy)


def _check_proxied(policy: egress.EgressPolicy, url: str) -> None:
    """The proxy resolves the token endpoint's name; judge what this worker can see of it
    (`EgressPolicy.proxied_target`). A URL httpx cannot parse fails in the request itself."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    policy.proxied_target(parsed.host, port)


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
