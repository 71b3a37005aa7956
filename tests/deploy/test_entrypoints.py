"""The image's entrypoints, run directly on loopback against the test database and Redis.

No container engine can pull a base image here, so this is the image's smoke test without the
image: `deploy/entrypoint.sh migrate`, then two web processes on two ports, a
worker and a beat, on the production settings, exactly as the containers start them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from console.management.commands.up import free_ports
from tests.test_celery_worker import _database_url

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "healthcheck.py"


@pytest.fixture
def production_env() -> dict[str, str]:
    """The environment a container gets: production settings, no embedded defaults."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the entrypoints run on the production settings")
    env = {k: v for k, v in os.environ.items() if k not in {"EMBEDDED", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        DATABASE_URL=_database_url(),
        SECRET_KEY="entrypoint-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="localhost,127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        LOG_LEVEL="WARNING",
        FLEET_WORKER_CONCURRENCY="2",
        FLEET_WORKER_HEARTBEAT_SECONDS="2",
        FLEET_WORKER_STALE_SECONDS="30",
        HOST="127.0.0.1",
    )
    return env


class Processes:
    """Entrypoint processes, each in its own process group with its own run dir and log file."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, name: str, process: str, **extra: str) -> subprocess.Popen:
        run_dir = self.tmp_path / name
        run_dir.mkdir()
        log = (self.tmp_path / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [str(ENTRYPOINT), process],
            cwd=ROOT,
            env={**self.env, "FLEET_RUN_DIR": str(run_dir), **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def healthcheck(self, name: str) -> subprocess.CompletedProcess:
        env = {**self.env, "FLEET_RUN_DIR": str(self.tmp_path / name)}
        env.pop("FLEET_HEARTBEAT_FILE", None)
        if name.startswith("web"):
            env["PORT"] = self.env_of[name]
        return subprocess.run(
            [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True
        )

    env_of: dict[str, str] = {}

    def stop(self) -> dict[str, int]:
        for proc in self.started.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        codes = {}
        for name, proc in self.started.items():
            try:
                codes[name] = proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes[name] = proc.wait()
        return codes


def _until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_entrypoints_migrate_then_serve_work_and_schedule(production_env, admin_user, tmp_path):
    # The test settings hash with MD5 for speed; the production settings only accept real hashers.
    admin_user.password = PBKDF2PasswordHasher().encode("admin-pass-123", "entrypoint", 1000)
    admin_user.save()
    migrate = subprocess.run(
        [str(ENTRYPOINT), "migrate"],
        cwd=ROOT,
        env={**production_env, "FLEET_RUN_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "No migrations to apply" in migrate.stdout

    port_a, port_b = free_ports(2)
    procs = Processes(tmp_path, production_env)
    procs.env_of = {"web-a": str(port_a), "web-b": str(port_b)}
    try:
        procs.start("web-a", "web", PORT=str(port_a), WEB_CONCURRENCY="1")
        procs.start("web-b", "web", PORT=str(port_b), WEB_CONCURRENCY="1")
        procs.start("worker", "worker")
        procs.start("beat", "beat")

        a = f"http://127.0.0.1:{port_a}"
        health = _until(
            lambda: (h := httpx.get(f"{a}/healthz", timeout=10).json())["worker"] == "ok" and h,
            timeout=60,
            what="the worker's heartbeat on /healthz",
        )
        assert health["status"] == "ok", health
        assert {health[p] for p in ("database", "broker", "cache")} == {"ok"}

        # Stateless web tier: a session made through one process is valid in the other.
        with httpx.Client(timeout=10) as web:
            login = web.get(f"{a}/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
            done = web.post(
                f"{a}/login/",
                data={
                    "username": admin_user.username,
                    "password": "admin-pass-123",
                    "csrfmiddlewaretoken": token,
                },
            )
            assert done.status_code == 302, done.text[:300]
            dashboard = web.get(f"http://127.0.0.1:{port_b}/")
            assert dashboard.status_code == 200
            assert admin_user.username in dashboard.text

        _until(lambda: "holds the leader lock" in procs.log("beat"), timeout=30, what="beat leader")
        for name in ("web-a", "web-b", "worker", "beat"):
            check = _until(
                lambda n=name: (r := procs.healthcheck(n)).returncode == 0 and r,
                timeout=30,
                what=f"{name} healthcheck",
            )
            assert "healthy" in check.stdout
    finally:
        codes = procs.stop()
    # Each stops cleanly on SIGTERM (uvicorn re-raises the signal after its graceful shutdown).
    clean = {n: c in (0, -signal.SIGTERM) for n, c in codes.items()}
    assert all(clean.values()), {n: (codes[n], procs.log(n)[-2000:]) for n in codes}
