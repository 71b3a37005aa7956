"""`manage.py up` on the embedded default: everything starts, the demo fleet registers on its
four emulated clouds with a lived-in history, Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from console.management.commands.up import free_ports, wait_for_port
from fleet.demo.servers import DEMO_ORDER

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_env(tmp_path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "EMBEDDED", "DJANGO_SETTINGS_MODULE"}
    }
    env["VAR_DIR"] = str(tmp_path / "var")
    return env


def _read_until(proc: subprocess.Popen, pattern: str, timeout: float = 300) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if re.search(pattern, seen):
            return seen
    raise AssertionError(f"never printed {pattern!r}; output so far:\n{seen}")


@pytest.mark.timeout(420)  # a whole `up` with the demo's history, on a shared 2-core machine
def test_up_starts_everything_and_ctrl_c_stops_it(embedded_env):
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(port)],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = _read_until(proc, r"Press Ctrl-C to stop")
        # Keep draining the pipe: a child that fills it would block, and `up` with it, on stop.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        password = re.search(r"Log in as admin with password: (\S+)", output).group(1)
        assert len(password) >= 12
        demo = re.search(r"Demo fleet on 127.0.0.1 ports (\d+)-(\d+): 13 created", output)
        assert demo, output
        steps = [
            "Applying database migrations…",
            "Collecting static files…",
            "Starting the demo fleet",
            "Making the demo's history",
            "Demo history ready",
            "Starting the Celery workers",
            "Starting the web process",
            "MCP Fleet Console is running",
        ]
        positions = [output.find(step) for step in steps]
        assert -1 not in positions and positions == sorted(positions), output  # progress, in order

        deadline = time.monotonic() + 90
        while True:  # the worker reports its first heartbeat once it is ready
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60).json()
            if health["worker"] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert health == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "cache": "ok",
            "worker": "ok",
            "sweep": "ok",
        }

        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as web:
            login = web.get("/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
            web.post(
                "/login/",
                data={"username": "admin", "password": password, "csrfmiddlewaretoken": token},
            )
            dashboard = web.get("/")
            assert dashboard.status_code == 200
            for name in DEMO_ORDER:
                assert f">{name}</a>" in dashboard.text
            platforms = (
                "Kubernetes",
                "Google Cloud Run",
                "AWS ECS / Fargate",
                "Azure Container Apps",
            )
            for platform in platforms:
                assert platform in dashboard.text, platform
            # The demo comes lived in: each page has the history `up` made through the services.
            for path, marker in (
                ("/audits/", "weather"),
                ("/budgets/", "platform-monthly"),
                ("/budgets/costs.csv", "weather"),
                ("/incidents/", "reports"),
                ("/redeploys/", "weather"),
                ("/alerts/", "reports"),
            ):
                page = web.get(path)
                assert page.status_code == 200 and marker in page.text, (path, page.text[:500])
            webhook = re.search(r"webhook receiver: (http://127\.0\.0\.1:\d+/)", output).group(1)
            received = httpx.get(webhook + "messages.json", timeout=30).json()
            assert any(m["payload"].get("alert", {}).get("kind") == "budget" for m in received)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not wait_for_port(port, timeout=0)
    assert not wait_for_port(int(demo.group(1)), timeout=0)
