#!/usr/bin/env python3
"""Container health check for every process of the image (Docker HEALTHCHECK, ECS, exec probes).

web: GET /healthz on the local port answers 200 (database, broker and cache reachable).
worker and beat: their heartbeat file (FLEET_HEARTBEAT_FILE, touched by the worker's heartbeat
thread and by every beat tick) is younger than FLEET_WORKER_STALE_SECONDS.
Standard library only, so it starts in milliseconds and needs no Django settings.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def _host_header() -> str:
    """The first concrete ALLOWED_HOSTS entry, so Django's host check accepts the probe."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def web_ok() -> tuple[bool, str]:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
    request = urllib.request.Request(url, headers={"Host": _host_header()})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (loopback)
            return response.status == 200, f"/healthz answered {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"/healthz answered {exc.code}"
    except OSError as exc:
        return False, f"/healthz unreachable: {exc}"


def heartbeat_ok(run_dir: Path) -> tuple[bool, str]:
    path = Path(os.environ.get("FLEET_HEARTBEAT_FILE") or run_dir / "fleet-heartbeat")
    stale_after = float(os.environ.get("FLEET_WORKER_STALE_SECONDS") or 60)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no heartbeat yet ({path})"
    return age <= stale_after, f"last heartbeat {age:.0f} s ago"


def main() -> int:
    run_dir = Path(os.environ.get("FLEET_RUN_DIR", "/tmp"))
    try:
        process = (run_dir / "fleet-process").read_text().strip()
    except FileNotFoundError:
        process = "web"
    if process == "web":
        ok, detail = web_ok()
    elif process in {"worker", "beat"}:
        ok, detail = heartbeat_ok(run_dir)
    else:  # migrate runs to completion; its exit code is its health
        ok, detail = True, process
    print(f"{process}: {'healthy' if ok else 'unhealthy'}: {detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
