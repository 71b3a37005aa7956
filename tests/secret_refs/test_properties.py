"""Properties of the rules themselves, over generated input: an accepted health path never moves
the probe to another origin; redaction removes what it promises to; references never escape."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.probing.errors import redact
from console import secret_refs
from fleet.validation import health_path_problem, join_health_url

BASES = ["http://10.0.0.5:8080/mcp", "https://notes.internal/mcp", "http://[::1]:9000/a/b"]


@settings(max_examples=400, deadline=None)
@given(path=st.text(max_size=60), base=st.sampled_from(BASES))
def test_an_accepted_health_path_keeps_the_service_origin(path, base):
    from urllib.parse import urlsplit

    if health_path_problem(path) is not None:
        with pytest.raises(ValueError):
            join_health_url(base, path)
        return
    joined = urlsplit(join_health_url(base, path))
    original = urlsplit(base)
    assert (joined.scheme, joined.netloc) == (original.scheme, original.netloc)


TOKENS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=12,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    token=TOKENS,
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    shape=st.sampled_from(
        ["Bearer {t}", "Authorization: Basic {t}", "api_key={t}", '"password": "{t}"', "token={t}"]
    ),
)
def test_redaction_removes_credentials_wherever_they_sit(token, before, after, shape):
    text = f"{before} {shape.format(t=token)} {after}"
    assert token not in redact(text).replace(before, "").replace(after, "")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tail=st.text(alphabet="abc./_-", max_size=40))
def test_no_file_reference_resolves_outside_the_allowed_directory(tail, secret_dir, settings):
    settings.FLEET_SECRET_DIRS = (str(secret_dir),)
    ref = f"file:{secret_dir}/{tail}"
    if secret_refs.ref_problem(ref) is None:
        real = os.path.realpath(ref.removeprefix("file:"))
        assert real == str(secret_dir) or real.startswith(f"{secret_dir}/")
