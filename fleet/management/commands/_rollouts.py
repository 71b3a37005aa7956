"""What `manage.py redeploy`, `release` and `rollback` share: following a rollout row live,
noticing when no worker is there to run it (no fresh heartbeat), and turning its outcome into an exit code.

Exit codes: 0 succeeded, 1 failed (or refused), 2 unknown (check the cloud console), 3 still in
flight when --timeout ran out, 4 no worker took the job (it stays queued).
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser, OutputWrapper
from django.core.management.color import Style

from fleet.operations.models import Redeploy, RedeployStatus

NO_WORKER = 4


def add_wait_arguments(parser: CommandParser) -> None:
    parser.add_argument("--reason", default="", help="Why (goes to the audit log).")
    parser.add_argument(
        "--wait", action="store_true", help="Follow the progress until it finishes."
    )
    parser.add_argument(
        "--foreground",
        action="store_true",
        help="Run the job in this process instead of a worker (implies --wait); for when no "
        "Celery worker is running.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="With --wait: give up following after this many seconds (default 1800).",
    )


def check_timeout(options: dict) -> None:
    if options["timeout"] <= 0:
        raise CommandError(
            f"--timeout: must be a positive number of seconds (got {options['timeout']})."
        )


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def problems(exc: ValidationError) -> str:
    """ "field: message" for each field, so the CLI names the option that is wrong."""
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


def worker_grace_s() -> float:
    """How long a queued job may wait before the CLI asks whether any worker is alive."""
    return float(getattr(settings, "FLEET_CLI_WORKER_GRACE_SECONDS", 3))


def workers_answering() -> bool | None:
    """Whether any Celery worker has written a fresh heartbeat (console/heartbeat.py)."""
    from console.heartbeat import live_workers

    return live_workers().exists()


def follow(
    stdout: OutputWrapper,
    stderr: OutputWrapper,
    style: Style,
    pk: int,
    timeout: float,
    *,
    is_alive: Callable[[], bool | None] = workers_answering,
) -> None:
    """Print the row's log as it grows until it finishes; say so at once if no worker runs it."""
    deadline = time.monotonic() + timeout
    queued_since = time.monotonic()
    asked = False
    shown = 0
    while True:
        redeploy = Redeploy.objects.get(pk=pk)
        lines = redeploy.log.splitlines()
        for line in lines[shown:]:
            stdout.write(line)
        shown = len(lines)
        if redeploy.is_finished:
            break
        queued = redeploy.status == RedeployStatus.QUEUED
        if queued and not asked and time.monotonic() - queued_since >= worker_grace_s():
            asked = True
            alive = is_alive()
            if alive is False:
                raise CommandError(
                    f"{redeploy.label} #{pk} is queued, but no Celery worker is running (none has "
                    "written a heartbeat lately): "
                    "nothing will run it until one starts (celery -A console worker, or "
                    "manage.py up). It stays queued; or run the command again with --foreground "
                    "to run it in this process.",
                    returncode=NO_WORKER,
                )
        if time.monotonic() > deadline:
            raise CommandError(
                f"{redeploy.label} #{pk} is still {redeploy.status} after {timeout:g}s; "
                "it goes on in the background.",
                returncode=3,
            )
        time.sleep(0.5)
    conclude(stdout, stderr, style, redeploy)


def run_here(pk: int) -> None:
    """Run a queued rollout in this process (--foreground)."""
    from fleet.operations.tasks import run_redeploy

    run_redeploy(pk)


def conclude(stdout: OutputWrapper, stderr: OutputWrapper, style: Style, redeploy: Any) -> None:
    images = ""
    if redeploy.action != "restart":
        images = f" · image {redeploy.image_before or '?'} → {redeploy.image_after or '?'}"
    summary = (
        f"{redeploy.label} #{redeploy.pk}: {redeploy.get_status_display()}"
        f" · revision {redeploy.revision_before or '?'} → {redeploy.revision_after or '?'}"
        + images
        + (f" · {redeploy.duration_s:.1f}s" if redeploy.duration_s is not None else "")
    )
    if redeploy.status == RedeployStatus.SUCCEEDED:
        stdout.write(style.SUCCESS(summary))
        return
    stderr.write(summary)
    for line in redeploy.diagnostics or []:
        stderr.write(f"  {line}")
    raise CommandError(redeploy.error, returncode=2 if redeploy.status == "unknown" else 1)
