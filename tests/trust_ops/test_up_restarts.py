"""`manage.py up`: a worker killed with SIGKILL comes back (new pid, backoff), the web keeps
serving meanwhile, /healthz sees the new worker, and a job the dead worker was running is failed."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from console.management.commands.up import free_ports

ROOT = Path(__file__).resolve().parents[2]


class Output:
    """Everything the command prints, read on a thread so the pipe never fills."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.text += line

    def wait_for(self, pattern: str, timeout: float = 240) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text)
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"never printed {pattern!r}; output so far:\n{self.text}")


def _worker_pid(parent: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        # the general worker, not the dedicated probe pool (its own process, named probes@)
        general = b"probes@%h" not in cmdline
        if ppid == parent and b"celery" in cmdline and b"worker" in cmdline and general:
            return int(entry.name)
    return None


def _wait_worker(parent: int, not_pid: int | None = None, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _worker_pid(parent)
        if pid and pid != not_pid:
            return pid
        time.sleep(0.2)
    raise AssertionError("no (new) worker process")


def _child_pid(parent: int, *words: bytes) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and all(
                w in cmdline for w in words
            ):
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError(f"no child process with {words}")


def _wait_health(base: str, worker: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = httpx.get(f"{base}/healthz", timeout=30).json()
        if body.get("worker") == worker:
            return body
        time.sleep(0.5)
    raise AssertionError(f"/healthz never said worker={worker}: {body}")


def _orphan_job(var: Path, worker_pid: int) -> int:
    """A job that worker is in the middle of (started five seconds ago), as its task records it."""
    started = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(var / "console.sqlite3", timeout=20) as db:
        (worker,) = db.execute(
            "SELECT worker FROM console_workerheartbeat WHERE worker LIKE ?", (f"%:{worker_pid}",)
        ).fetchone()
        cursor = db.execute(
            "INSERT INTO console_job (name, status, object_type, object_id, created_at, started_at,"
            " log, error, worker) VALUES ('fleet import', 'running', '', '', ?, ?, '', '', ?)",
            (started, started, worker),
        )
        return cursor.lastrowid


def _job(var: Path, pk: int) -> tuple[str, str]:
    with sqlite3.connect(var / "console.sqlite3", timeout=20) as db:
        return db.execute("SELECT status, error FROM console_job WHERE id = ?", (pk,)).fetchone()


@pytest.fixture
def up(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "EMBEDDED", "DJANGO_SETTINGS_MODULE"}
    }
    env["VAR_DIR"] = str(tmp_path / "var")
    env["FLEET_WORKER_HEARTBEAT_SECONDS"] = "1"
    env["FLEET_WORKER_STALE_SECONDS"] = "3"
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port), "--no-demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(proc)
    try:
        yield proc, output, f"http://127.0.0.1:{port}", tmp_path / "var"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)


@pytest.mark.timeout(300)  # one `up` run for what were two tests
def test_killed_processes_are_restarted_with_backoff_and_the_web_keeps_serving(up):
    """One `up` for every restart case (starting it is the slow part): a killed worker comes back
    while the web keeps serving and the job it was running is failed; one that keeps dying comes
    back after 1 s, 2 s, 4 s; beat and the probe pool are supervised the same way."""
    proc, output, base, var = up
    password = output.wait_for(r"Log in as admin with password: (\S+)").group(1)
    first = _wait_worker(proc.pid)
    _wait_health(base, "ok")
    web = httpx.Client(base_url=base, timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', web.get("/login/").text)[1]
    web.post(
        "/login/", data={"username": "admin", "password": password, "csrfmiddlewaretoken": token}
    )
    orphan = _orphan_job(var, first)

    os.kill(first, signal.SIGKILL)

    output.wait_for(r"The worker process exited \(killed by SIGKILL\); restarting it in 1 s\.", 30)
    assert web.get("/").status_code == 200  # the web did not go down with the worker
    assert proc.poll() is None
    restarted = int(output.wait_for(r"Restarted the worker process \(pid (\d+)\)\.", 30).group(1))
    assert restarted != first and _wait_worker(proc.pid, not_pid=first) == restarted

    # A worker that keeps dying comes back after growing delays (the count restarts only once it
    # has stayed up for a minute, so these follow the 1 s above).
    pid = restarted
    for delay in (2, 4):
        os.kill(pid, signal.SIGKILL)
        output.wait_for(rf"exited \(killed by SIGKILL\); restarting it in {delay} s\.", 30)
        pid = _wait_worker(proc.pid, not_pid=pid, timeout=30)
    assert web.get("/").status_code == 200

    body = _wait_health(base, "ok")  # /healthz sees the new worker
    assert body["status"] in {"ok", "degraded"} and body["database"] == "ok"
    # The job the killed worker was running is failed with the reason once a new one is ready.
    deadline = time.monotonic() + 60
    while _job(var, orphan)[0] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
    status, error = _job(var, orphan)
    assert status == "failed" and "The worker running this stopped" in error

    # beat and the dedicated probe pool are supervised the same way
    beat = _child_pid(proc.pid, b"beat")
    os.kill(beat, signal.SIGKILL)
    output.wait_for(r"The beat process exited \(killed by SIGKILL\); restarting it in 1 s\.", 30)
    restarted = int(output.wait_for(r"Restarted the beat process \(pid (\d+)\)\.", 30).group(1))
    assert restarted != beat
    probes = _child_pid(proc.pid, b"worker", b"probes@%h")
    os.kill(probes, signal.SIGKILL)
    output.wait_for(r"The probe worker process exited \(killed by SIGKILL\); restarting", 30)
    output.wait_for(r"Restarted the probe worker process", 30)
    assert web.get("/").status_code == 200
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
