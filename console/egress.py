"""The egress policy: where the console may connect on an operator's behalf.

Every outbound request an operator can aim (MCP probes, health checks, TLS checks, webhooks,
Slack, the SMTP host, cloud account endpoint overrides) goes through one `EgressPolicy`:

- Link-local and cloud metadata addresses are refused always, whatever the lists say: IPv4
  169.254.0.0/16 and 0.0.0.0/8, IPv6 fe80::/10 and ::, the metadata services at
  100.100.100.200 (Alibaba), 168.63.129.16 (Azure WireServer), 192.0.0.192 (Oracle) and
  fd00:ec2::254 (AWS), and the same IPv4 addresses embedded in IPv6 (IPv4-mapped and -compatible,
  NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4, Teredo). Metadata host names
  (`metadata.google.internal`, `metadata.azure.com`, ...) are refused by name as well.
- `FLEET_EGRESS_DENY` and `FLEET_EGRESS_ALLOW` (CIDR lists) decide the rest: the most specific
  matching entry wins (a tie goes to deny), and an address no entry matches is allowed, so
  loopback, private and public addresses are allowed by default. `DENY=0.0.0.0/0,::/0` with
  `ALLOW=10.0.0.0/8` makes the allow list the only way out.
- The check runs on the resolved address at connect time: a name is resolved once, every address
  it resolved to is checked, and the connection goes to a checked address (never re-resolved),
  with the name kept for SNI and Host. So numeric spellings (2852039166, 0xa9fea9fe,
  0251.0376.0251.0376, 169.254.43518), DNS names pointing at metadata and DNS rebinding all meet
  the same check. `url_problem` is the save-time check of the same rules without DNS.
- Through a forward proxy (probes only), the proxy's address gets the connect-time check above and
  the target gets `proxied_target_async`: the proxy resolves it, so only what this worker can see
  is judged (literal addresses, metadata names, the addresses the name resolves to here).

Free of Django at import time: `current()` reads the settings when they are configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx
import idna

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses it resolves to, as strings (what getaddrinfo would answer)."""

METADATA = "a link-local/metadata address"
_V4_LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
_V4_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_V4_METADATA = frozenset(
    ipaddress.IPv4Address(a)
    for a in (
        "100.100.100.200",  # Alibaba Cloud ECS metadata
        "168.63.129.16",  # Azure WireServer / platform endpoint (hands out VM extension secrets)
        "192.0.0.192",  # Oracle Cloud Infrastructure legacy metadata
    )
)
_V6_METADATA = frozenset((ipaddress.IPv6Address("fd00:ec2::254"),))  # AWS IMDS over IPv6
_NAT64 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
)
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
ABSOLUTE_NETWORKS: tuple[Network, ...] = (
    _V4_LINK_LOCAL,
    _V4_THIS_NETWORK,
    ipaddress.IPv6Network("fe80::/10"),
    *(ipaddress.ip_network(a) for a in sorted(_V4_METADATA)),
    *(ipaddress.ip_network(a) for a in sorted(_V6_METADATA)),
)
"""Ranges no allow-list entry may open (settings refuse an entry that lies inside one)."""

METADATA_NAMES = (
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.com",
    "metadata.azure.internal",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
)
_NUMERIC_V4 = re.compile(r"^[0-9a-fA-FxX.]+$")
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # IDNA treats these as dots


class EgressRefused(Exception):
    """The policy refuses this destination; `str()` is the sentence shown to operators."""


def _embedded_v4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64) or address in _V4_COMPATIBLE and int(address) > 1:
        found.append(low32)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _v4_is_metadata(address: ipaddress.IPv4Address) -> bool:
    return address in _V4_LINK_LOCAL or address in _V4_THIS_NETWORK or address in _V4_METADATA


def is_metadata_address(address: Address) -> bool:
    """Link-local, unspecified or a cloud metadata service, in any IPv4 or IPv6 form."""
    if isinstance(address, ipaddress.IPv4Address):
        return _v4_is_metadata(address)
    if address.is_link_local or address.is_unspecified:
        return True
    if address.scope_id is not None:  # "fe80::1%eth0" compares unequal to fd00:ec2::254 etc.
        address = ipaddress.IPv6Address(int(address))
    if address in _V6_METADATA:
        return True
    return any(_v4_is_metadata(v4) for v4 in _embedded_v4(address))


def is_metadata_name(host: str) -> bool:
    """Whether a host name (already lowercased, no trailing dot) names a metadata service."""
    if host in METADATA_NAMES:
        return True
    return any(host.endswith("." + name) for name in METADATA_NAMES if "." in name)


def parse_host_address(host: str) -> Address | None:
    """The address a URL host spells, the way the resolver reads it; None for a DNS name.

    Accepts what `inet_aton` accepts (decimal, hex, octal and short IPv4 forms), bracketed or
    scoped IPv6, trailing dots and fullwidth digits/dots (IDNA maps them to ASCII).
    """
    text = _idna_fold(host).strip("[]").rstrip(".")
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_V4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def normalise_name(host: str) -> str:
    """A DNS name as the resolver sees it: IDNA/NFKC folded, lowercase, no trailing dot."""
    return _idna_fold(host).rstrip(".")


def _idna_fold(host: str) -> str:
    """Fold a host the way IDNA's UTS #46 mapping does before lookup: NFKC, lowercase, the
    ideographic dots, and the characters it ignores (soft hyphen, zero-width and variation
    marks) dropped, so `meta\u00addata` is read as the `metadata` a resolver would look up."""
    text = unicodedata.normalize("NFKC", host).translate(_DOTS).lower()
    try:
        return idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (idna.IDNAError, ValueError):
        return text  # a disallowed character: no resolver will look it up, keep it as written


def parse_cidrs(setting: str, value: str) -> tuple[Network, ...]:
    """A comma-separated CIDR list from the environment; ValueError names the bad entry."""
    if not value.strip():
        return ()
    networks = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"{setting} has an empty entry in {value!r}; remove the extra comma")
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            raise ValueError(
                f"{setting} entry {entry!r} is not a CIDR network such as 10.0.0.0/8 or "
                f"fd00::/8 ({exc})"
            ) from None
    return tuple(networks)


def check_allow_list(allow: Sequence[Network], deny: Sequence[Network]) -> None:
    """Refuse allow entries that could never matter or that try to open metadata ranges."""
    for net in allow:
        for absolute in ABSOLUTE_NETWORKS:
            if net.version == absolute.version and net.subnet_of(absolute):  # type: ignore[arg-type]
                raise ValueError(
                    f"FLEET_EGRESS_ALLOW entry {net} lies inside {absolute}: link-local and cloud "
                    "metadata addresses are always refused and cannot be allowed"
                )
        if not any(
            net.version == d.version and net.subnet_of(d) and net != d  # type: ignore[arg-type]
            for d in deny
        ):
            raise ValueError(
                f"FLEET_EGRESS_ALLOW entry {net} is not inside a wider FLEET_EGRESS_DENY range, "
                "so it changes nothing (everything not denied is allowed). To allow only listed "
                "ranges, also set FLEET_EGRESS_DENY=0.0.0.0/0,::/0"
            )


def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo, TCP only: every address the name resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(eq=False)
class EgressPolicy:
    """The rules for one process's outbound connections (see the module docstring)."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()
    resolver: Resolver | None = None  # None: the system resolver (asyncio's, in async code)
    _verdicts: dict[str, str | None] = field(default_factory=dict, repr=False)
    _allowed_literals: dict[str, list[str]] = field(default_factory=dict, repr=False)

    # -- addresses -----------------------------------------------------------------------------

    def address_problem(self, address: Address) -> str | None:
        """Why connecting to `address` is refused, or None (cached per address)."""
        key = str(address)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        verdict = self._judge(address)
        if len(self._verdicts) > 65536:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _judge(self, address: Address) -> str | None:
        if is_metadata_address(address):
            if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_v4(address)):
                return f"{address} (IPv4 {inner[0]}) is {METADATA}"
            return f"{address} is {METADATA}"
        if not (self.allow or self.deny):
            return None
        targets: list[Address] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            mapped = address.ipv4_mapped
            targets = [mapped] if mapped is not None else [address, *_embedded_v4(address)]
        for target in targets:
            if denied := self._denied_by(target):
                return f"{address} is in FLEET_EGRESS_DENY ({denied})"
        return None

    def _denied_by(self, address: Address) -> Network | None:
        best_deny = max(
            (n for n in self.deny if address in n), key=lambda n: n.prefixlen, default=None
        )
        if best_deny is None:
            return None
        best_allow = max(
            (n for n in self.allow if address in n), key=lambda n: n.prefixlen, default=None
        )
        if best_allow is not None and best_allow.prefixlen > best_deny.prefixlen:
            return None
        return best_deny

    def check_address(self, address: Address, name: str = "") -> None:
        """Raise EgressRefused if `address` (which `name` resolved to, if given) is refused."""
        problem = self.address_problem(address)
        if problem is not None:
            where = f"{name} resolved to a refused address: {problem}" if name else problem
            raise EgressRefused(f"egress refused: {where}")

    # -- hosts ---------------------------------------------------------------------------------

    def host_problem(self, host: str) -> str | None:
        """Save-time check of a URL host without DNS: its literal address or its name."""
        if "%" in host and not host.startswith("["):
            decoded = unquote(host)
            if decoded != host:
                inner = self.host_problem(decoded)
                return inner or f"the host {host!r} is percent-encoded; write it plainly"
        address = parse_host_address(host)
        if address is not None:
            return self.address_problem(address)
        name = normalise_name(host)
        if is_metadata_name(name):
            return f"{name} is a cloud metadata host name"
        return None

    def _literal(self, host: str) -> list[str] | None:
        """[address] for an allowed literal host (cached), None for a DNS name to resolve.

        Raises EgressRefused for a refused literal address or a metadata host name.
        """
        allowed = self._allowed_literals.get(host)
        if allowed is not None:
            return allowed
        address = parse_host_address(host)
        if address is None:
            if is_metadata_name(normalise_name(host)):
                raise EgressRefused(
                    f"egress refused: {normalise_name(host)} is a cloud metadata host name"
                )
            return None
        self.check_address(address)
        if len(self._allowed_literals) > 65536:
            self._allowed_literals.clear()
        allowed = self._allowed_literals[host] = [str(address)]
        return allowed

    def resolve(self, host: str, port: int) -> list[str]:
        """Resolve once and check every address; the addresses to connect to, in order.

        Raises EgressRefused if the host or any address it resolved to is refused (a name that
        answers with a metadata address among others is refused outright), OSError if it does
        not resolve.
        """
        literal = self._literal(host)
        if literal is not None:
            return list(literal)
        return self._checked(host, (self.resolver or system_resolver)(host, port))

    async def resolve_async(self, host: str, port: int) -> list[str]:
        """`resolve` for asyncio code: the loop's getaddrinfo (in its executor) for names."""
        literal = self._literal(host)
        if literal is not None:
            return list(literal)
        if self.resolver is not None:
            return self._checked(host, self.resolver(host, port))
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return self._checked(host, [str(info[4][0]) for info in infos])

    async def proxied_target_async(self, host: str, port: int) -> None:
        """Check a target reached through a forward proxy, which resolves the name itself.

        A literal address and a metadata host name are judged as always. A name that resolves
        here is judged on every address it resolves to (the proxy most likely shares this DNS),
        so a name pointing at a metadata address is refused. A name that does not resolve here
        is left to the proxy: behind corporate proxies the inside names often resolve only
        there, and the proxy's own rules are then the guard (README: "Proxies").
        Raises EgressRefused.
        """
        if self._literal(host) is not None:
            return
        try:
            await self.resolve_async(host, port)
        except OSError:
            return

    def proxied_target(self, host: str, port: int) -> None:
        """`proxied_target_async` for synchronous code (the OAuth token request)."""
        if self._literal(host) is not None:
            return
        try:
            self.resolve(host, port)
        except OSError:
            return

    def _checked(self, host: str, answers: Sequence[str]) -> list[str]:
        if not answers:
            raise OSError(f"{host} resolved to no address")
        for answer in answers:
            self.check_address(ipaddress.ip_address(answer), name=host)
        return list(dict.fromkeys(answers))

    # -- URLs ----------------------------------------------------------------------------------

    def url_problem(self, url: str) -> str | None:
        """Why a URL an operator saved is refused by the policy (without DNS), or None.

        Both parsers that may read it (urllib's and httpx's) must agree on a harmless host;
        user names in URLs and backslashes are refused outright, since they are how one URL is
        made to mean two different hosts.
        """
        try:
            parts = urlsplit(url)
            hosts = {parts.hostname or ""}
            # How a browser-style (WHATWG) parser reads it: "\\" ends the authority like "/".
            hosts.add(urlsplit(url.replace("\\", "/")).hostname or "")
        except ValueError as exc:
            return f"the URL cannot be parsed ({exc})"
        # The other parsers' hosts are still checked when httpx refuses the URL outright.
        with contextlib.suppress(httpx.InvalidURL, ValueError):
            hosts.add(httpx.URL(url).host)
        for host in sorted(h for h in hosts if h):
            if problem := self.host_problem(host):
                return problem
        if any(c == "\\" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
            return "the URL contains a backslash, space or control character"
        if "@" in parts.netloc:
            return (
                "the URL carries a user name or password (user@host); "
                "send credentials in a header from a secret reference instead"
            )
        return None

    def check_url(self, url: str) -> None:
        """Raise EgressRefused when `url_problem` finds one."""
        if problem := self.url_problem(url):
            raise EgressRefused(f"egress refused: {problem}")


class _CheckedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy checked."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.policy.resolve(host, port)
        except OSError as exc:  # EgressRefused passes through untouched
            raise httpcore.ConnectError(f"could not resolve {host} ({exc})") from exc
        for index, address in enumerate(addresses):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                if index + 1 == len(addresses):
                    raise
        raise httpcore.ConnectError(f"{host} resolved to no address")  # unreachable


class EgressTransport(httpx.HTTPTransport):
    """An httpx transport whose connections obey the egress policy (TLS and Host keep the name).

    Pass it as `httpx.Client(transport=...)`; with an explicit transport httpx also ignores
    HTTP(S)_PROXY from the environment, so no proxy connects on the policy's behalf.
    """

    def __init__(self, policy: EgressPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpcore's pool takes a network backend; httpx does not pass one through.
        self._pool._network_backend = _CheckedBackend(policy or current())


_DEFAULT = EgressPolicy()
_BY_SETTINGS: dict[tuple[object, ...], EgressPolicy] = {}


def current() -> EgressPolicy:
    """The policy the Django settings describe (FLEET_EGRESS_ALLOW/DENY, FLEET_EGRESS_RESOLVER).

    One policy object (and verdict cache) per distinct configuration, so tests that override
    the settings get a fresh one and production shares a single cache.
    """
    try:
        from django.conf import settings

        if not settings.configured:
            return _DEFAULT
        allow = tuple(getattr(settings, "FLEET_EGRESS_ALLOW", ()))
        deny = tuple(getattr(settings, "FLEET_EGRESS_DENY", ()))
        resolver = getattr(settings, "FLEET_EGRESS_RESOLVER", None)
    except ImportError:
        return _DEFAULT
    key = (allow, deny, id(resolver))  # the cached policy keeps the resolver alive
    policy = _BY_SETTINGS.get(key)
    if policy is None:
        if len(_BY_SETTINGS) > 64:
            _BY_SETTINGS.clear()
        policy = _BY_SETTINGS[key] = EgressPolicy(allow=allow, deny=deny, resolver=resolver)
    return policy


def url_problem(url: str) -> str | None:
    """`current().url_problem(url)`: the save-time check."""
    return current().url_problem(url)
