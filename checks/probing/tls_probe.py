"""TLS certificate check for https targets: expiry, issuer and whether it covers the hostname."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from datetime import UTC, datetime

import httpx
from cryptography import x509

from checks.probing.errors import host_port
from checks.probing.types import TlsInfo
from console.egress import EgressPolicy, EgressRefused, current


async def probe_tls(
    url: str, timeout_s: float = 10.0, egress: EgressPolicy | None = None
) -> TlsInfo:
    """Fetch the server certificate without trusting it (we report on it, not rely on it).

    The egress policy applies as for every probe: resolved once, checked, connected by address.
    """
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # an expired or self-signed cert must still be described
    try:
        async with asyncio.timeout(timeout_s):
            address = (await (egress or current()).resolve_async(host, port))[0]
            reader, writer = await asyncio.open_connection(
                address, port, ssl=context, server_hostname=host
            )
    except EgressRefused as exc:
        return TlsInfo(error=str(exc))
    except TimeoutError:
        return TlsInfo(
            error=f"no TLS handshake with {host_port(host, port)} within {timeout_s:g} s"
        )
    except (OSError, ssl.SSLError) as exc:
        return TlsInfo(error=f"could not open a TLS connection to {host_port(host, port)} ({exc})")
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await writer.wait_closed()
    if not der:
        return TlsInfo(error=f"{host_port(host, port)} presented no certificate")
    return describe_certificate(x509.load_der_x509_certificate(der), host)


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
