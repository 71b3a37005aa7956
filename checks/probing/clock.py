"""Per-phase timeouts under one overall deadline, with the time each phase took."""

from __future__ import annotations

import asyncio
import time

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

    def phase(self, name: str, key: str = "") -> _Phase:
        """Run one phase (`async with clock.phase(...)`); on time-out raise a PhaseTimeout that
        says which limit was hit.

        `name` is the phase as shown to operators ("tools/list"), `key` the phases_ms key.
        Time spent is added to `phases_ms[key]` (a phase may run several requests, e.g. pages).
        """
        return _Phase(self, name, key)

    def _deadline_message(self) -> str:
        return f"the probe's overall deadline of {self.deadline_s:g} s ran out"


class _Phase:
    """`PhaseClock.phase` as a plain class: it runs several times per probe, so it stays lean."""

    __slots__ = ("clock", "name", "key", "by_deadline", "begun", "timeout")

    def __init__(self, clock: PhaseClock, name: str, key: str) -> None:
        self.clock, self.name, self.key = clock, name, key

    async def __aenter__(self) -> None:
        clock = self.clock
        self.begun = now = time.perf_counter()
        left = clock._deadline - now
        limit = min(clock.phase_timeout_s, left)
        self.by_deadline = left <= clock.phase_timeout_s
        if limit <= 0:
            raise PhaseTimeout(self.name, clock._deadline_message())
        self.timeout = asyncio.timeout(limit)
        await self.timeout.__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: object, tb: object
    ) -> None:
        clock = self.clock
        try:
            await self.timeout.__aexit__(exc_type, exc, tb)  # type: ignore[arg-type]
        except TimeoutError:
            if self.by_deadline:
                raise PhaseTimeout(self.name, clock._deadline_message()) from None
            raise PhaseTimeout(
                self.name, f"no answer within the {clock.phase_timeout_s:g} s phase timeout"
            ) from None
        finally:
            if self.key:
                spent = (time.perf_counter() - self.begun) * 1000
                clock.phases_ms[self.key] = clock.phases_ms.get(self.key, 0.0) + spent
