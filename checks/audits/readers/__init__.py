"""Evidence readers per platform: each module registers `@reader(KEY)` functions (gather.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from checks.audits.evidence import Observation
from checks.audits.gather import ReadContext, reader

Facts = dict[int, dict[str, Observation | str]]


class OncePerRun:
    """Read a platform once per audit run and answer every key from that one read.

    gather calls one reader per key; this keeps the last run's read per thread, so the keys of
    one run share it and two runs in a threaded worker never see each other's answers.
    """

    def __init__(self, read_all: Callable[[ReadContext], Facts]) -> None:
        self.read_all = read_all
        self._local = threading.local()

    def answers(self, context: ReadContext, key: str) -> Mapping[int, Observation | str]:
        last = getattr(self._local, "last", None)
        if last is None or last[0] is not context:
            last = (context, self.read_all(context))
            self._local.last = last
        return {pk: facts[key] for pk, facts in last[1].items() if key in facts}

    def register(self, keys: Iterable[str]) -> None:
        """Register one reader per key with gather."""
        for key in keys:
            reader(key)(lambda context, key=key: self.answers(context, key))
