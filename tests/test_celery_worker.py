"""A real Celery worker process, fed through the real broker (Redis in CI), runs a background job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from console import jobs
from console.celery import app as celery_app
from console.models import AuditLogEntry, Job
from fleet.models import Service
from fleet.tasks import import_fleet_task

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip(
            "needs DATABASE_URL pointing at PostgreSQL so the worker process sees the test database"
        )
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker():
    """`celery -A console worker` in its own process, on the production settings module."""
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the worker test runs against a real Redis broker")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "worker-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "LOG_JSON": "1",
    }
    env.pop("EMBEDDED", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield proc
    finally:
        celery_app.conf.task_always_eager = eager
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_finished(job: Job, timeout: float = 45.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job still {job.status} after {timeout}s")


def test_fleet_import_runs_on_a_real_worker(worker, operator):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    text = """
services:
  - name: notes
    url: https://notes.example.com/mcp
  - name: chatbot
    kind: agent_backend
    url: https://chat.example.com
    depends_on: [notes]
"""
    job = jobs.enqueue("fleet import", import_fleet_task, user=operator, args=(text,))
    job = _wait_finished(job)
    assert job.status == Job.Status.SUCCEEDED, (job.error, job.log)
    assert "+ service notes" in job.log and "2 created" in job.log
    assert Service.objects.get(name="chatbot").dependencies.get().name == "notes"
    entry = AuditLogEntry.objects.get(object_repr="notes", action="create")
    assert entry.actor == operator


def test_a_bad_file_fails_the_job_and_changes_nothing(worker, operator):
    job = jobs.enqueue(
        "fleet import",
        import_fleet_task,
        user=operator,
        args=("services:\n  - name: notes\n    url: ftp://x\n",),
    )
    job = _wait_finished(job)
    assert job.status == Job.Status.FAILED
    assert "services[0] (notes): url: URL scheme must be http or https" in job.log
    assert "nothing changed" in job.error
    assert not Service.objects.exists()
