"""The address classifier and the CIDR settings: every spelling of a metadata address is refused."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.egress import EgressPolicy, is_metadata_address, parse_cidrs

# Every way of writing a link-local / metadata destination in a URL an operator could save.
REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://2852039166/",  # decimal
    "http://0xa9fea9fe/",  # hex
    "http://0xA9.0xFE.0xA9.0xFE/",  # dotted hex
    "http://0251.0376.0251.0376/",  # octal
    "http://169.254.43518/",  # short form
    "http://169.16689662/",  # shorter form
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped, hex
    "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated (SIIT, RFC 6052 section 2.1's older form)
    "http://169\u3002254\u3002169\u3002254/",  # ideographic full stops (IDNA dots)
    "http://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463/",  # circled
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[64:ff9b::169.254.169.254]/",  # NAT64, dotted
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",  # scoped
    "http://[fd00:ec2::254]/",  # AWS IMDS over IPv6
    "http://100.100.100.200/",  # Alibaba
    "http://168.63.129.16/",  # Azure WireServer
    "http://0.0.0.0/",
    "http://0/",
    "http://169.254.169.254./",  # trailing dot
    "http://169.254.169.254../",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",  # uppercase, trailing dot
    "http://metadata.goog/",
    "http://metadata.azure.com/",
    "http://metadata/",
    "http://instance-data.ec2.internal/",
    "http://good@169.254.169.254/",  # userinfo
    "http://good:pw@metadata.google.internal/",
    "http://169.254.169.254\\@good.example.com/",  # backslash: browsers read 169.254.169.254
    "http://169.254.169.254%2f@good.example.com/",
    "http://%31%36%39.254.169.254/",  # percent-encoded host
    "http://１６９.２５４.１６９.２５４/",  # fullwidth digits (IDNA folds them)
    "http://169。254。169。254/",  # ideographic full stops
    "http://ｍｅｔａｄａｔａ.google.internal/",  # fullwidth letters
    "http://meta\u00addata.google.internal/",  # soft hyphen: IDNA (UTS #46) ignores it
    "http://metadata\u200b.goog/",  # zero-width space
    "http://169.254.169.25\u00ad4/",  # an ignored character inside an address
    "http://META\u034fDATA/",  # combining grapheme joiner
    "https://169.254.169.254:443/",
]

ALLOWED_URLS = [
    "http://127.0.0.1:8000/mcp",
    "http://localhost:8000/mcp",
    "http://[::1]:8000/mcp",
    "http://10.0.0.5/mcp",
    "http://192.168.1.10:3000/mcp",
    "https://mcp.example.com/mcp",
    "https://hooks.slack.com/services/T0/B0/x",
    "http://metadata-service.internal.example.com/",  # not a metadata name, only a similar one
    "http://169.254.169.254.example.com/",  # a DNS name: checked on its resolved address
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_every_spelling_of_a_metadata_destination_is_refused(url):
    problem = EgressPolicy().url_problem(url)
    assert problem is not None, url


@pytest.mark.parametrize("url", ALLOWED_URLS)
def test_loopback_private_and_public_are_allowed_by_default(url):
    assert EgressPolicy().url_problem(url) is None


def test_the_refusal_names_the_address_and_why():
    assert EgressPolicy().url_problem("http://2852039166/") == (
        "169.254.169.254 is a link-local/metadata address"
    )
    assert "IPv4 169.254.169.254" in EgressPolicy().url_problem("http://[::ffff:a9fe:a9fe]/")


def test_deny_list_blocks_loopback_and_most_specific_entry_wins():
    policy = EgressPolicy(
        allow=parse_cidrs("FLEET_EGRESS_ALLOW", "10.1.0.0/16"),
        deny=parse_cidrs("FLEET_EGRESS_DENY", "127.0.0.0/8, 10.0.0.0/8"),
    )
    assert policy.url_problem("http://127.0.0.1:8000/") == (
        "127.0.0.1 is in FLEET_EGRESS_DENY (127.0.0.0/8)"
    )
    assert policy.url_problem("http://[::ffff:127.0.0.1]/") is not None  # same socket address
    assert policy.url_problem("http://0x7f.1/") is not None
    assert policy.url_problem("http://10.2.3.4/") is not None
    assert policy.url_problem("http://10.1.2.3/") is None  # the allow entry is more specific
    assert policy.url_problem("https://hooks.slack.com/") is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("10.0.0.0/8,", "empty entry"),
        ("10.0.0.1/8", "'10.0.0.1/8' is not a CIDR network"),
        ("example.com", "'example.com' is not a CIDR network"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a CIDR network"),
    ],
)
def test_bad_cidrs_are_named(value, words):
    with pytest.raises(ValueError, match=words):
        parse_cidrs("FLEET_EGRESS_DENY", value)


def _start(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = "import django; django.setup()"
    environ = {**os.environ, "DJANGO_SETTINGS_MODULE": "console.settings_test", **env}
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FLEET_EGRESS_DENY": "10.0.0.0/8,nonsense"}, "FLEET_EGRESS_DENY entry 'nonsense'"),
        (
            {"FLEET_EGRESS_DENY": "0.0.0.0/0", "FLEET_EGRESS_ALLOW": "169.254.169.254/32"},
            "cannot be allowed",
        ),
        ({"FLEET_EGRESS_ALLOW": "10.0.0.0/8"}, "changes nothing"),
        ({"EMAIL_URL": "smtp://169.254.169.254:25"}, "EMAIL_URL host refused"),
    ],
)
def test_the_console_refuses_to_start_with_a_bad_egress_setting(env, words):
    result = _start(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and words in result.stderr, result.stderr


def test_good_egress_settings_start():
    result = _start({"FLEET_EGRESS_DENY": "0.0.0.0/0,::/0", "FLEET_EGRESS_ALLOW": "10.0.0.0/8"})
    assert result.returncode == 0, result.stderr


# -- properties of the classifier ------------------------------------------------------------

link_local_v4 = st.integers(0, 0xFFFF).map(lambda n: ipaddress.IPv4Address(0xA9FE0000 + n))


@given(link_local_v4)
def test_link_local_v4_is_refused_in_every_numeric_spelling(address):
    n = int(address)
    a, b, c, d = address.packed
    spellings = [
        str(n),
        hex(n),
        f"0{n:o}",
        f"{a}.{b}.{c * 256 + d}",
        f"{a}.{b * 65536 + c * 256 + d}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"{hex(a)}.{hex(b)}.{hex(c)}.{hex(d)}",
        f"[::ffff:{address}]",
        f"[64:ff9b::{address}]",
        f"{address}.",
    ]
    policy = EgressPolicy()
    for host in spellings:
        assert policy.url_problem(f"http://{host}/") is not None, host


@given(st.integers(0, 2**32 - 1))
def test_an_ipv4_address_and_its_mapped_form_get_the_same_verdict(n):
    v4 = ipaddress.IPv4Address(n)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    policy = EgressPolicy(deny=parse_cidrs("FLEET_EGRESS_DENY", "127.0.0.0/8,10.0.0.0/8"))
    assert (policy.address_problem(v4) is None) == (policy.address_problem(mapped) is None)
    assert is_metadata_address(v4) == is_metadata_address(mapped)


@given(st.integers(0, 2**32 - 1))
def test_only_metadata_ranges_are_metadata(n):
    v4 = ipaddress.IPv4Address(n)
    expected = (
        v4 in ipaddress.ip_network("169.254.0.0/16")
        or v4 in ipaddress.ip_network("0.0.0.0/8")
        or str(v4) in ("100.100.100.200", "168.63.129.16", "192.0.0.192")
    )
    assert is_metadata_address(v4) == expected
