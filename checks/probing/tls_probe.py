"""TLS certificate check for https targets: expiry, issuer and whether it covers the hostname."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from datetime import UTC, datetime

import httpx
from cryptography import x509

from checks.probing import h1
from checks.probing.errors import host_port
from checks.probing.network import DEFAULT_NETWORK, ProbeNetwork, ssl_context
from checks.probing.types import TlsInfo
from console.egress import EgressPolicy


async def probe_tls(
    url: str,
    timeout_s: float = 10.0,
    egress: EgressPolicy | None = None,
    *,
    client: h1.ProbeClient | None = None,
    network: ProbeNetwork = DEFAULT_NETWORK,
) -> TlsInfo:
    """Describe the server certificate, and say whether the service's trust accepts it.

    It goes the way the probe goes (the service's proxy, CONNECT, its client certificate for
    servers that require one) and first handshakes with the service's own trust (its CA bundle,
    or the system's): `trusted` says whether that chain verified. An expired, self-signed or
    unknown certificate must still be described, so on a verification failure it handshakes
    once more without verifying, only to read the certificate. The egress policy applies as for
    every probe (checked addresses, and the proxied-target rule through a proxy).
    """
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 443
    where = host_port(host, port)
    if network.proxy is not None and network.proxy.scheme != "http":
        return TlsInfo(
            error=f"not checked: {network.httpx_reason()}, and the TLS check goes through "
            "http:// proxies only"
        )
    client = client or h1.ProbeClient(egress=egress)
    trusted, trust_error = None, ""
    try:
        async with asyncio.timeout(timeout_s):
            try:
                der = await _peer_certificate(client, network, host, port, verify=True)
                trusted = network.tls.verify or None  # skipped verification decides nothing
            except h1.CertificateError as exc:
                trusted, trust_error = False, str(exc)
                der = await _peer_certificate(client, network, host, port, verify=False)
    except TimeoutError:
        return TlsInfo(error=f"no TLS handshake with {where} within {timeout_s:g} s")
    except h1.EgressError as exc:
        return TlsInfo(error=str(exc))
    except h1.HttpError as exc:
        return TlsInfo(error=f"could not open a TLS connection to {where} ({exc})")
    if not der:
        return TlsInfo(error=f"{where} presented no certificate")
    info = describe_certificate(x509.load_der_x509_certificate(der), host)
    info.trusted, info.trust_error = trusted, trust_error
    return info


async def _peer_certificate(
    client: h1.ProbeClient, network: ProbeNetwork, host: str, port: int, *, verify: bool
) -> bytes:
    """The server's certificate (DER) from one handshake, with no ALPN (any server answers)."""
    tls = network.tls if verify else dataclasses.replace(network.tls, verify=False)
    connections = client.connections(network)
    try:
        conn = await connections.open_tls(host, port, ssl_context(tls, alpn=()))
        ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport else None
        return ssl_object.getpeercert(binary_form=True) if ssl_object is not None else b""
    finally:
        await connections.aclose()


def describe_certificate(cert: x509.Certificate, host: str) -> TlsInfo:
    """Expiry, issuer and hostname coverage of `cert` for `host`."""
    not_after = cert.not_valid_after_utc
    days = (not_after - datetime.now(UTC)).total_seconds() / 86400
    return TlsInfo(
        days_to_expiry=round(days, 2),
        not_after=not_after.isoformat(),
        hostname_matches=hostname_matches(cert, host),
        issuer=cert.issuer.rfc4514_string(),
    )


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 matching against subjectAltName only (browsers ignore the subject CN)."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return address in names.get_values_for_type(x509.IPAddress)
    return any(_dns_match(pattern, host) for pattern in names.get_values_for_type(x509.DNSName))


def _dns_match(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == host
    # A wildcard stands for exactly one leftmost label.
    first, _, rest = host.partition(".")
    return bool(first) and rest == pattern[2:]
