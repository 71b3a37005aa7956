"""A platform is read once per audit run for all its facts, and concurrent runs (a threaded
worker) never answer with each other's evidence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from checks.audits.evidence import Observation, Provenance
from checks.audits.gather import ReadContext
from checks.audits.readers import OncePerRun


def _context(tag: str) -> ReadContext:
    return ReadContext(services=[tag], clouds={}, read_at=datetime(2026, 11, 30, tzinfo=UTC))  # type: ignore[list-item]


def test_every_key_of_a_run_shares_one_read_and_runs_stay_apart():
    reads: list[str] = []

    def read_all(context: ReadContext) -> dict:
        tag = context.services[0]
        reads.append(tag)
        origin = Provenance(f"platform of run {tag}")
        return {1: {"a": Observation(tag, origin), "b": f"nothing read in run {tag}"}}

    once = OncePerRun(read_all)
    first = _context("first")
    assert once.answers(first, "a")[1].value == "first"
    assert once.answers(first, "b")[1] == "nothing read in run first"
    assert reads == ["first"]  # one read for both keys

    seen: dict[str, object] = {}

    def other_run() -> None:
        seen["other"] = once.answers(_context("other"), "a")[1].value

    thread = threading.Thread(target=other_run)
    thread.start()
    thread.join()
    assert seen["other"] == "other"
    assert once.answers(first, "a")[1].value == "first"  # still this run's read
    assert reads == ["first", "other"]
