"""Per-phase timeouts under one overall deadline, with the time each phase took."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from checks.probing.errors import ProbeFailure

# With no explicit overall deadline a probe may use this many per-phase timeouts in total:
# enough for a slow but working server, short enough that a stuck one frees its slot.
DEFAULT_DEADLINE_FACTOR = 3.0


class PhaseTimeout(ProbeFailure):
    """A phase ran out of time (its own limit or the overall deadline)."""


class PhaseClock:
    """Gives each phase `min(phase timeout, time left before the deadline)`; records durations."""

    def __init__(self, phase_timeout_s: float, deadline_s: float | None = None) -> None:
        self.phase_timeout_s = phase_timeout_s
        self.deadline_s = (
            deadline_s if deadline_s is not None else phase_timeout_s * DEFAULT_DEADLINE_FACTOR
        )
        self.started = time.perf_counter()
        self._deadline = self.started + self.deadline_s
        self.phases_ms: dict[str, float] = {}

    def remaining(self) -> float:
        """Seconds left before the overall deadline."""
        return self._deadline - time.perf_counter()

    def elapsed_ms(self) -> float:
        """Milliseconds since the probe started."""
        return (time.perf_counter() - self.started) * 1000

    @asynccontextmanager
    async def phase(self, name: str, key: str = "") -> AsyncIterator[None]:
        """Run one phase; on time-out raise a ProbeFailure that says which limit was hit.

        `name` is the phase as shown to operators ("tools/list"), `key` the phases_ms key.
        Time spent is added to `phases_ms[key]` (a phase may run several requests, e.g. pages).
        """
        left = self.remaining()
        limit = min(self.phase_timeout_s, left)
        by_deadline = left <= self.phase_timeout_s
        if limit <= 0:
            raise PhaseTimeout(name, self._deadline_message())
        begun = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError:
            if by_deadline:
                raise PhaseTimeout(name, self._deadline_message()) from None
            raise PhaseTimeout(
                name, f"no answer within the {self.phase_timeout_s:g} s phase timeout"
            ) from None
        finally:
            if key:
                spent = (time.perf_counter() - begun) * 1000
                self.phases_ms[key] = self.phases_ms.get(key, 0.0) + spent

    def _deadline_message(self) -> str:
        return f"the probe's overall deadline of {self.deadline_s:g} s ran out"
