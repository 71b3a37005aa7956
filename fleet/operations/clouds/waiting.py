"""Waiting for a started cloud operation, with live progress lines and an honest timeout.

A wait that runs out, or loses contact with the cloud, reports "unknown" with the operation id:
the change may still land, so the console must never claim it succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fleet.operations.clouds.errors import CloudError
from fleet.operations.clouds.pacing import Pacing
from fleet.operations.clouds.types import OperationResult

Progress = Callable[[str], None] | None


@dataclass
class Step:
    """What one status poll saw."""

    done: bool
    message: str = ""
    failed: bool = False
    revision: str = ""


def say(progress: Progress, line: str) -> None:
    """Send one human-readable progress line, if anyone listens."""
    if progress is not None:
        progress(line)


def poll_until(
    check: Callable[[], Step],
    *,
    timeout_s: float,
    pacing: Pacing,
    progress: Progress,
) -> Step | CloudError | None:
    """Poll `check` until done, the deadline passes (None) or a call keeps failing (the error).

    Repeated identical messages are reported once, so the log reads like a story.
    """
    deadline = time.monotonic() + timeout_s
    interval = pacing.poll_interval_s
    last_message = ""
    while True:
        try:
            step = check()
        except CloudError as exc:
            return exc
        if step.message and step.message != last_message:
            say(progress, step.message)
            last_message = step.message
        if step.done:
            return step
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, pacing.poll_max_interval_s)


def unknown_result(
    *,
    operation_id: str,
    revision_before: str,
    where: str,
    timeout_s: float,
    error: CloudError | None = None,
) -> OperationResult:
    """The result for an operation whose outcome we could not observe."""
    if error is None:
        why = f"It was still in progress after {timeout_s:g}s"
    else:
        why = f"The console lost track of it ({error})"
    return OperationResult(
        status="unknown",
        operation_id=operation_id,
        revision_before=revision_before,
        message=(
            f"{why}; the outcome is unknown. Check operation {operation_id} in {where} "
            "and refresh this service before trying again."
        ),
    )
