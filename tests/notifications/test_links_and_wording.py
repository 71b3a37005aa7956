"""Links in alert messages (absolute with CONSOLE_BASE_URL, relative without) and human words."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from checks.models import Incident
from checks.state import record_state_change
from console.notifications import dispatch
from console.notifications.models import Alert
from console.public_url import parse_public_url
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def notes():
    return ServiceFactory(name="notes", team="search", environment="production")


def deliver(evt, receiver, capture, monkeypatch) -> dict:
    """One alert to a webhook, a Slack-compatible webhook and email; what each received."""
    monkeypatch.setenv("FLEET_SECRET_SLACK_LINKS", f"{receiver.url}/slack")
    ChannelFactory(name="hook", target=f"{receiver.url}/hook")
    ChannelFactory(name="slack", type="slack", target="env:FLEET_SECRET_SLACK_LINKS")
    ChannelFactory(name="mail", type="email", target="oncall@example.com")
    with capture(execute=True):
        dispatch.notify(evt)
    by_path = {r.path: r.json() for r in receiver.requests}
    return {"hook": by_path["/hook"], "slack": by_path["/slack"], "email": mail.outbox[0].body}


def test_links_are_absolute_when_the_console_knows_its_url(
    notes, receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CONSOLE_BASE_URL = "https://console.example.com/ops"
    got = deliver(
        event(notes, url=notes.get_absolute_url()),
        receiver,
        django_capture_on_commit_callbacks,
        monkeypatch,
    )
    link = "https://console.example.com/ops/services/notes/"
    assert got["hook"]["alert"]["url"] == link
    assert got["slack"]["blocks"][-1]["elements"][0]["text"] == f"<{link}|Open in console>"
    assert f"Console: {link}" in got["email"]


def test_links_stay_relative_without_the_public_url(
    notes, receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CONSOLE_BASE_URL = ""
    got = deliver(
        event(notes, url=notes.get_absolute_url()),
        receiver,
        django_capture_on_commit_callbacks,
        monkeypatch,
    )
    assert got["hook"]["alert"]["url"] == "/services/notes/"
    assert "Open in console" not in str(got["slack"])  # Slack cannot follow a relative link
    assert "Console: /services/notes/" in got["email"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://console.example.com/", "https://console.example.com"),
        ("HTTPS://console.example.com/fleet/", "https://console.example.com/fleet"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("  ", ""),
    ],
)
def test_the_public_url_is_normalised(raw, expected):
    assert parse_public_url("CONSOLE_BASE_URL", raw) == expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("console.example.com", "must start with http:// or https://"),
        ("ftp://console.example.com", "must start with http:// or https://"),
        ("https://", "has no host name"),
        ("https://ops:hunter2@console.example.com", "must not carry a user name or password"),
        ("https://console.example.com/?next=/", "must not have a query"),
        ("https://console.example.com:99999", "port that is not a number"),
    ],
)
def test_a_bad_public_url_is_refused_naming_the_variable(raw, words):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_public_url("CONSOLE_BASE_URL", raw)
    assert str(refused.value).startswith("CONSOLE_BASE_URL: ") and words in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_the_console_refuses_to_start_with_a_bad_public_url():
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings_test",
        "CONSOLE_BASE_URL": "console.example.com",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: CONSOLE_BASE_URL: 'console.example.com'" in result.stderr


def test_a_recovery_says_states_in_words_never_identifiers(notes, viewer_client):
    # given notes is down with an open incident and its alert
    at = timezone.now()
    record_state_change(notes, "unknown", "down", "3 failed checks in a row", at=at, live={})
    assert Incident.objects.filter(service=notes, closed_at=None).exists()
    # when it answers again, but with a 401 challenge: it needs credentials now
    record_state_change(notes, "down", "needs_auth", "401", at=at, live={})
    # then the recovery and the problem read as words
    recovery = Alert.objects.get(kind="recovered")
    assert recovery.title == "notes recovered: no longer down (now needs credentials)"
    assert recovery.body.endswith("Status now: needs credentials.")
    texts = " ".join(a.title + a.body for a in Alert.objects.all())
    assert "needs_auth" not in texts
    assert "is down since" in Alert.objects.get(kind="down").body
    page = viewer_client.get("/alerts/").content.decode()
    assert "needs credentials" in page and "needs_auth" not in page


def test_status_badges_say_words():
    from fleet.templatetags.fleet_tags import status_badge

    assert status_badge("needs_auth") == (
        '<span class="badge status-needs_auth">needs credentials</span>'
    )
