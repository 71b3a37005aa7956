"""Production settings: HTTPS redirect and HSTS on by default, a switch for TLS ended at a load
balancer, /healthz reachable over plain HTTP, and `check --deploy` clean with a proper key."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Answers three requests through Django's SecurityMiddleware with the settings as loaded.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
mw = SecurityMiddleware(lambda r: HttpResponse("ok"))
rf = RequestFactory(SERVER_NAME="console.example.com")
def answer(path, **extra):
    r = mw(rf.get(path, **extra))
    return {"status": r.status_code, "location": r.get("Location", ""),
            "hsts": r.get("Strict-Transport-Security", ""), "referrer": r.get("Referrer-Policy", "")}
print(json.dumps({
    "plain": answer("/"),
    "healthz": answer("/healthz"),
    "forwarded": answer("/", HTTP_X_FORWARDED_PROTO="https"),
    "secure": answer("/", secure=True),
    "cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
}))
"""


def _production_env(tmp_path: Path, **extra: str) -> dict:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMBEDDED", "DEBUG"))
    }
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_COOKIES"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE="console.settings",
        SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/trust_ops_unused",
        REDIS_URL="redis://127.0.0.1:6379/4",
        ALLOWED_HOSTS="console.example.com",
        VAR_DIR=str(tmp_path),
        **extra,
    )
    return env


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _probe(env: dict) -> dict:
    done = _run(["-c", PROBE], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_check_deploy_is_clean_in_production(tmp_path):
    done = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env(tmp_path)
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNINGS" not in output and "System check identified no issues" in output


def test_production_redirects_to_https_and_sends_hsts_but_not_for_healthz(tmp_path):
    answers = _probe(_production_env(tmp_path))

    assert answers["plain"]["status"] == 301
    assert answers["plain"]["location"] == "https://console.example.com/"
    assert answers["healthz"]["status"] == 200  # load-balancer and kubelet probes over plain HTTP
    assert answers["secure"]["hsts"] == "max-age=31536000; includeSubDomains"
    assert answers["secure"]["referrer"] == "same-origin"
    assert answers["cookies"] == [True, True]
    # Without the switch, a forwarded-proto header is not believed (anyone could send it).
    assert answers["forwarded"]["status"] == 301


def test_tls_ended_at_a_load_balancer(tmp_path):
    answers = _probe(_production_env(tmp_path, FLEET_TRUST_X_FORWARDED_PROTO="1"))

    assert answers["forwarded"]["status"] == 200
    assert answers["forwarded"]["hsts"].startswith("max-age=31536000")
    assert answers["plain"]["status"] == 301


def test_hsts_and_redirect_are_configurable(tmp_path):
    env = _production_env(
        tmp_path, SECURE_HSTS_SECONDS="3600", SECURE_HSTS_PRELOAD="1", SECURE_SSL_REDIRECT="0"
    )
    answers = _probe(env)

    assert answers["plain"]["status"] == 200
    assert answers["secure"]["hsts"] == "max-age=3600; includeSubDomains; preload"


def test_embedded_quickstart_stays_on_plain_http(tmp_path):
    env = _production_env(tmp_path, EMBEDDED="1")
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    answers = _probe(env)
    assert answers["plain"]["status"] == 200 and answers["secure"]["hsts"] == ""


def test_a_bad_value_stops_startup_naming_the_variable(tmp_path):
    done = _run(["-c", PROBE], _production_env(tmp_path, SECURE_HSTS_SECONDS="a year"))
    assert done.returncode != 0
    assert "SECURE_HSTS_SECONDS: 'a year' is not a whole number." in done.stderr
    done = _run(["-c", PROBE], _production_env(tmp_path, FLEET_TRUST_X_FORWARDED_PROTO="maybe"))
    assert "FLEET_TRUST_X_FORWARDED_PROTO: 'maybe' is not a switch" in done.stderr
