"""Embedded SQLite shared by web, worker and beat: WAL and a busy timeout are really applied, and
a long write transaction elsewhere (a big fleet import in the worker) makes a concurrent request
wait for its turn instead of failing with "database is locked"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Longer than Django's 5 s SQLite default, so a request that waits its turn proves the configured
# busy timeout is in force on the web's connection; its value (60 s, longer than a 1,000-service
# fleet import holds the write lock on a busy 2-core machine) is what the PRAGMA test checks.
HOLD_SECONDS = 9

SETUP = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
User.objects.create_superuser("admin", "a@localhost", "admin-pass-123")
"""

PRAGMAS = """
import json, django; django.setup()
from django.db import connection
with connection.cursor() as c:
    out = {}
    for name in ("journal_mode", "busy_timeout"):
        c.execute(f"PRAGMA {name}")
        out[name] = c.fetchone()[0]
print(json.dumps(out))
"""

# What a long import does to the database: one write transaction held open.
HOLD = """
import sys, time, django; django.setup()
from django.db import transaction
from console.models import AuditLogEntry
with transaction.atomic():
    AuditLogEntry.objects.create(actor_label="import", source="system", action="import",
                                 object_type="fleet", object_repr="fleet.yaml")
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))
"""

REQUESTS = """
import json, sys, time, django; django.setup()
from django.test import Client
Client().get("/login/")  # warm up: URLconf, templates
print("ready", flush=True)
sys.stdin.readline()  # go: the other process holds the write lock now
out = {}
t = time.monotonic()
out["dashboard_status"] = Client().get("/login/").status_code
out["read_seconds"] = time.monotonic() - t
t = time.monotonic()
try:
    r = Client().post("/login/", {"username": "admin", "password": "admin-pass-123"})
    out["login_status"] = r.status_code
except Exception as exc:
    out["login_error"] = f"{type(exc).__name__}: {exc}"
out["login_seconds"] = time.monotonic() - t
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory) -> dict:
    """One migrated embedded database for the module (migrating takes ~20 s on this machine)."""
    tmp_path = tmp_path_factory.mktemp("embedded")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
        and not k.startswith("FLEET_SQLITE")
    }
    env.update(
        EMBEDDED="1",
        DJANGO_SETTINGS_MODULE="console.settings",
        VAR_DIR=str(tmp_path / "var"),
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="ERROR",
    )
    done = _python(SETUP, env)
    assert done.returncode == 0, done.stderr
    return env


def _python(code: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_wal_and_the_busy_timeout_are_applied_to_every_connection(embedded_env):
    done = _python(PRAGMAS, embedded_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"journal_mode": "wal", "busy_timeout": 60_000}


def test_a_long_write_elsewhere_does_not_make_a_request_fail_with_database_is_locked(
    embedded_env,
):
    requester = subprocess.Popen(
        [sys.executable, "-c", REQUESTS],
        cwd=ROOT,
        env=embedded_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert requester.stdout.readline().strip() == "ready"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(HOLD_SECONDS)],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        out, err = requester.communicate("go\n", timeout=300)
        assert requester.returncode == 0, err
        result = json.loads(out)
    finally:
        holder.wait(timeout=120)

    assert "login_error" not in result, result["login_error"]
    assert result["login_status"] == 302  # logged in (it writes the session and last_login)
    assert result["read_seconds"] < 5  # WAL: reading never waits for the writer
    assert time.monotonic() - started >= HOLD_SECONDS - 3  # the login waited for its turn


def test_the_busy_timeout_comes_from_the_environment(embedded_env):
    done = _python(PRAGMAS, {**embedded_env, "FLEET_SQLITE_BUSY_TIMEOUT_SECONDS": "5"})
    assert json.loads(done.stdout)["busy_timeout"] == 5000
    done = _python(PRAGMAS, {**embedded_env, "FLEET_SQLITE_BUSY_TIMEOUT_SECONDS": "soon"})
    assert "FLEET_SQLITE_BUSY_TIMEOUT_SECONDS: 'soon' is not a whole number." in done.stderr
