"""How one service is reached: through which proxy, with which TLS trust and client certificate.

Plain data, free of Django: `checks.targets` builds a `ProbeNetwork` per service from its check
settings, its account's settings and the worker's environment; the transports (`h1`, and the
httpx fallback in `wire`) read it.

- Proxies: an explicit proxy (service, then account) wins; otherwise the worker's standard
  `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` (lowercase spellings too, and they win, as in curl and
  Python's urllib). `NO_PROXY` applies to the environment's proxy only: an explicit setting is a
  decision about that service. Entries: `*`, host names (`example.com` and `.example.com` both
  match the name and its subdomains), IP addresses and CIDR ranges, each optionally with `:port`.
- TLS: a CA bundle *replaces* the system's trust store for that service (a private CA is all it
  should trust); a client certificate (and key) is presented to servers that ask (mTLS);
  `verify=False` only ever comes from an audited, non-production setting.
- SSL contexts are expensive (~30 ms of CPU each); they are built once per distinct setting and
  kept, keyed by the PEM contents, so a rotated file makes a new context on the next sweep.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from checks.probing.errors import host_port

PROXY_SCHEMES = ("http", "https")
DIRECT = "direct"  # an explicit "no proxy", even when the account or the environment sets one


@dataclass(frozen=True)
class ProxyRoute:
    """A forward proxy: where it listens, the Proxy-Authorization it needs, and who set it."""

    scheme: str  # "http" (plain connection to the proxy) or "https" (TLS to the proxy)
    host: str
    port: int
    authorization: str = field(default="", repr=False)  # "Basic ...", never logged
    source: str = ""  # "the service's check settings", "account X", "HTTPS_PROXY"

    @property
    def where(self) -> str:
        return host_port(self.host, self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.where}"

    def describe(self) -> str:
        return f"the proxy {self.url} (from {self.source})"


@dataclass(frozen=True)
class TlsSettings:
    """What the probe trusts and presents on TLS connections to one service."""

    ca_pem: str = ""  # CA certificates (PEM) to trust instead of the system store
    client_cert_pem: str = field(default="", repr=False)  # certificate chain (PEM)
    client_key_pem: str = field(default="", repr=False)  # its private key (PEM), may be in cert
    verify: bool = True
    source: str = ""  # where the settings came from, for messages

    @property
    def default(self) -> bool:
        return self == _DEFAULT_TLS


_DEFAULT_TLS = TlsSettings()


@dataclass(frozen=True)
class ProbeNetwork:
    """Route and TLS settings of one service, plus the client its probes use."""

    proxy: ProxyRoute | None = None
    tls: TlsSettings = _DEFAULT_TLS
    # "httpx" when this service needs the httpx path (remembered from an earlier probe, or
    # decided from the settings: an https:// proxy); "" lets the lean client try first.
    client: str = ""
    client_reason: str = ""

    def httpx_reason(self) -> str:
        """Why these settings alone need the httpx path ("" when the lean client can do it)."""
        if self.proxy is not None and self.proxy.scheme == "https":
            return f"{self.proxy.describe()} is reached over TLS (an https:// proxy)"
        return ""


DEFAULT_NETWORK = ProbeNetwork()


# -- proxies -----------------------------------------------------------------------------------


def parse_proxy(url: str, source: str, authorization: str = "") -> ProxyRoute:
    """A ProxyRoute from `scheme://[user:password@]host[:port]` (ValueError naming the problem).

    Credentials in the URL (only the worker's environment may carry them) become a Basic
    Proxy-Authorization; `authorization` (from a secret reference) wins over them.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{source}: the proxy URL cannot be parsed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError(f"{source}: the proxy must be http://host:port or https://host:port")
    if parts.username and not authorization:
        authorization = basic_authorization(
            f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        )
    default_port = 443 if scheme == "https" else 80
    return ProxyRoute(scheme, parts.hostname, port or default_port, authorization, source)


def basic_authorization(user_password: str) -> str:
    """`Basic base64(user:password)` (RFC 7617), the scheme HTTP proxies ask for."""
    return "Basic " + base64.b64encode(user_password.encode("utf-8")).decode("ascii")


def environment_proxy(scheme: str, host: str, port: int) -> ProxyRoute | None:
    """The worker environment's proxy for a target, or None (no proxy set, or NO_PROXY)."""
    return _environment_table(_proxy_environment())(scheme, host, port)


def environment_proxy_for_url(url: str) -> ProxyRoute | None:
    """`environment_proxy` for a URL; without proxy variables (the usual case) it does not
    even parse the URL (a sweep asks this for every service)."""
    env = _proxy_environment()
    if not env:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    return _environment_table(env)(scheme, parts.hostname or "", port)


def _proxy_environment() -> tuple[tuple[str, str], ...]:
    names = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")
    return tuple((n, os.environ[n]) for n in names if n in os.environ)


@functools.lru_cache(maxsize=4)
def _environment_table(env: tuple[tuple[str, str], ...]):  # noqa: ANN202 - a closure
    values = dict(env)

    def first(*names: str) -> tuple[str, str]:
        for name in names:
            if values.get(name, "").strip():
                return name, values[name]
        return "", ""

    routes: dict[str, ProxyRoute | None] = {}
    for scheme, names in (("https", ("https_proxy", "HTTPS_PROXY")), ("http", ("http_proxy",))):
        name, value = first(*names)
        if scheme == "http" and not name and "REQUEST_METHOD" not in os.environ:
            name, value = first("HTTP_PROXY")  # never in a CGI context (httpoxy)
        routes[scheme] = parse_proxy(value, name) if name else None
    bypass = parse_no_proxy(first("no_proxy", "NO_PROXY")[1])

    def lookup(scheme: str, host: str, port: int) -> ProxyRoute | None:
        route = routes.get(scheme)
        if route is None or bypassed(bypass, host, port):
            return None
        return route

    return lookup


NoProxyEntry = tuple[str, object, int | None]  # ("*"|"name"|"net", value, port or None)


def parse_no_proxy(value: str) -> tuple[NoProxyEntry, ...]:
    """NO_PROXY's comma-separated entries, parsed once."""
    entries: list[NoProxyEntry] = []
    for raw in value.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        if item == "*":
            entries.append(("*", None, None))
            continue
        port: int | None = None
        host = item
        if item.startswith("["):  # [v6]:port
            inner, _, rest = item[1:].partition("]")
            host = inner
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif item.count(":") == 1:
            name, _, maybe_port = item.partition(":")
            if maybe_port.isdigit():
                host, port = name, int(maybe_port)
        try:
            entries.append(("net", ipaddress.ip_network(host, strict=False), port))
        except ValueError:
            entries.append(("name", host.lstrip(".").rstrip("."), port))
    return tuple(entries)


def bypassed(entries: tuple[NoProxyEntry, ...], host: str, port: int) -> bool:
    """Whether NO_PROXY sends `host:port` direct."""
    if not entries:
        return False
    name = host.lower().strip("[]").rstrip(".")
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        address = None
    for kind, value, entry_port in entries:
        if entry_port is not None and entry_port != port:
            continue
        if kind == "*":
            return True
        if kind == "net" and address is not None and address in value:  # type: ignore[operator]
            return True
        if kind == "name" and address is None and (name == value or name.endswith(f".{value}")):
            return True
    return False


# -- TLS ---------------------------------------------------------------------------------------


def ssl_context(tls: TlsSettings, *, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
    """The client SSL context for `tls`, built once per distinct settings (see module doc)."""
    return _context(tls, alpn)


@functools.lru_cache(maxsize=64)
def _context(tls: TlsSettings, alpn: tuple[str, ...]) -> ssl.SSLContext:
    if tls.ca_pem:
        context = ssl.create_default_context(cadata=tls.ca_pem)
    else:
        context = ssl.create_default_context()
    if not tls.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.client_cert_pem:
        load_client_certificate(context, tls.client_cert_pem, tls.client_key_pem)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def load_client_certificate(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """`load_cert_chain` from PEM text: Python's ssl reads only files, so the PEM goes through
    an anonymous in-memory file (memfd) that no other process can open, never onto a disk."""
    fd = os.memfd_create("probe-client-cert", os.MFD_CLOEXEC)
    try:
        os.write(fd, (cert_pem.rstrip("\n") + "\n" + key_pem).encode("utf-8"))
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
