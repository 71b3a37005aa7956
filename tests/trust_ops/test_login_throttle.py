"""Login throttling: failures are slowed, then the user name or the address is locked for a while;
the lock is in the audit log, shown to admins, and ends after the cool-off or when an admin lifts it."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.utils import timezone

from console.models import AuditLogEntry

LIMIT = 3
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_throttle(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.FLEET_LOGIN_SLOWDOWN_SECONDS = 0


def _login(
    client: Client, username: str, password: str, path: str = "/login/", ip: str = "10.0.0.7"
):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _fail(client: Client, username: str, times: int, **kw) -> None:
    for _ in range(times):
        response = _login(client, username, "wrong-password", **kw)
        assert response.status_code in (200, 429)


def test_repeated_failures_lock_the_login_even_for_the_right_password(operator):
    client = Client()
    _fail(client, "otto", LIMIT)

    response = _login(client, "otto", "otto-pass-123")

    assert response.status_code == 429
    assert "Login locked" in response.content.decode()
    assert "_auth_user_id" not in client.session
    entry = AuditLogEntry.objects.get(action="login-locked")
    assert entry.object_repr == "otto" and entry.object_type == "user"
    assert entry.after["ip_address"] == "10.0.0.7" and entry.after["failures"] == LIMIT
    assert "15 minutes" in entry.detail and "console login" in entry.detail


def test_one_lock_is_one_audit_row_however_often_it_is_tried(operator):
    client = Client()
    _fail(client, "otto", LIMIT + 4)
    assert AuditLogEntry.objects.filter(action="login-locked").count() == 1


def test_an_address_is_locked_across_user_names(operator):
    client = Client()
    for name in ("a", "b", "c")[:LIMIT]:
        _fail(client, name, 1, ip="10.9.9.9")

    assert _login(client, "otto", "otto-pass-123", ip="10.9.9.9").status_code == 429
    # The same user from another address is not locked (its name failed no time).
    other = _login(Client(), "otto", "otto-pass-123", ip="10.1.1.1")
    assert other.status_code == 302


def test_a_user_name_is_locked_across_addresses(operator):
    client = Client()
    for i in range(LIMIT):
        _fail(client, "otto", 1, ip=f"10.0.1.{i}")
    assert _login(Client(), "otto", "otto-pass-123", ip="10.0.2.1").status_code == 429


def test_the_admin_login_is_throttled_too(admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client = Client()
    _fail(client, "ada", LIMIT, path="/admin/login/")

    response = _login(client, "ada", "ada-pass-123", path="/admin/login/")

    assert response.status_code == 429
    assert "admin login" in AuditLogEntry.objects.get(action="login-locked").detail


def test_the_lock_ends_after_the_cool_off(operator):
    client = Client()
    _fail(client, "otto", LIMIT)
    assert _login(client, "otto", "otto-pass-123").status_code == 429

    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert _login(client, "otto", "otto-pass-123").status_code == 302


def test_lock_length_comes_from_the_environment(operator, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    client = Client()
    _fail(client, "otto", LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=1))
    assert _login(client, "otto", "otto-pass-123").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=3))
    assert _login(client, "otto", "otto-pass-123").status_code == 302


def test_admins_see_the_lock_and_unlocking_is_audited(operator, admin_user):
    _fail(Client(), "otto", LIMIT)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    admin = Client()
    admin.force_login(admin_user)

    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "otto" in listing.content.decode() and "Locked Out" in listing.content.decode()
    audit_page = admin.get("/audit-log/")
    assert "login-locked" in audit_page.content.decode()

    attempt = AccessAttempt.objects.get(username="otto")
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock", "_selected_action": [attempt.pk]},
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    unlock = AuditLogEntry.objects.get(action="login-unlock")
    assert unlock.actor == admin_user and unlock.before["username"] == "otto"
    assert _login(Client(), "otto", "otto-pass-123").status_code == 302


def test_failures_before_the_lock_are_answered_more_slowly(operator, settings):
    settings.AXES_FAILURE_LIMIT = 10
    settings.FLEET_LOGIN_SLOWDOWN_SECONDS = 0.2
    client = Client()
    timings = []
    for _ in range(4):
        started = time.monotonic()
        _login(client, "otto", "wrong-password")
        timings.append(time.monotonic() - started)

    assert timings[0] < 0.2  # the first mistake is free
    assert timings[1] >= 0.2 and timings[2] >= 0.4 and timings[3] >= 0.8


def test_a_good_login_clears_earlier_failures(operator):
    client = Client()
    _fail(client, "otto", LIMIT - 1)
    assert _login(client, "otto", "otto-pass-123").status_code == 302
    _fail(Client(), "otto", LIMIT - 1)
    assert _login(Client(), "otto", "otto-pass-123").status_code == 302


@override_settings(FLEET_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_locked(operator):
    client = Client()
    for _ in range(LIMIT):
        client.post(
            "/login/",
            {"username": "x", "password": "y"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.5",
        )
    entry = AuditLogEntry.objects.get(action="login-locked")
    assert entry.after["ip_address"] == "203.0.113.5"
    # Another client behind the same balancer is not locked out with the first.
    ok = Client().post(
        "/login/",
        {"username": "otto", "password": "otto-pass-123"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert ok.status_code == 302


def test_wrong_api_tokens_lock_the_address_even_for_a_good_token(operator, settings):
    from django.core.cache import cache

    from console.tokens import issue_token

    settings.FLEET_API_TOKEN_FAILURE_LIMIT = 3
    cache.delete("fleet:api-token-failures:10.7.7.7")
    _, good = issue_token(operator, "ci")
    client = Client(REMOTE_ADDR="10.7.7.7")
    for _ in range(3):
        wrong = client.get("/api/v1/services", HTTP_AUTHORIZATION="Bearer fc_wrong")
        assert wrong.status_code == 401

    locked = client.get("/api/v1/services", HTTP_AUTHORIZATION=f"Bearer {good}")
    metrics = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {good}")

    assert locked.status_code == 429 and "Too many wrong API tokens" in locked.json()["detail"]
    assert locked["Retry-After"] == "900"
    assert metrics.status_code == 429
    entry = AuditLogEntry.objects.get(action="api-token-locked")
    assert entry.after == {"ip_address": "10.7.7.7", "failures": 3}
    other = Client(REMOTE_ADDR="10.7.7.8").get(
        "/api/v1/services", HTTP_AUTHORIZATION=f"Bearer {good}"
    )
    assert other.status_code == 200
    cache.delete("fleet:api-token-failures:10.7.7.7")


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(operator):
    # each try claims another address; the connection's own address is what gets locked
    for n in range(LIMIT):
        Client().post(
            "/login/",
            {"username": f"user{n}", "password": "y"},
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=f"6.6.6.{n}",
        )
    assert AuditLogEntry.objects.get(action="login-locked").after["ip_address"] == "10.0.0.9"
    assert _login(Client(), "otto", "otto-pass-123", ip="10.0.0.9").status_code == 429


@override_settings(FLEET_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_addresses_forged_in_front_of_it_change_nothing(operator):
    # The balancer appends the address it saw; what the client wrote before it is not trusted.
    for n in range(LIMIT):
        Client().post(
            "/login/",
            {"username": f"user{n}", "password": "y"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.5",
        )
    assert AuditLogEntry.objects.get(action="login-locked").after["ip_address"] == "203.0.113.5"
    # not the balancer's own address, which would lock out everyone behind it
    ok = Client().post(
        "/login/",
        {"username": "otto", "password": "otto-pass-123"},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert ok.status_code == 302


@override_settings(FLEET_TRUSTED_PROXY_COUNT=2)
def test_behind_two_proxies_the_client_is_second_from_the_right():
    from axes.helpers import get_client_ip_address
    from django.test import RequestFactory

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.1"
    )
    assert get_client_ip_address(request) == "203.0.113.5"
    short = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="garbage")
    assert get_client_ip_address(short) == "10.0.0.2"
