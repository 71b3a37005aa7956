"""Celery task counts for /metrics, kept in the shared cache so every worker's runs are counted.

Workers increment `fleet:tasks:<name>:<state>` after each run (Celery's task_postrun signal); the web
process reads them at scrape time. Redis in production, the file cache on the embedded default.
"""

from __future__ import annotations

from celery.signals import task_postrun
from django.core.cache import cache

STATES = ("SUCCESS", "FAILURE", "RETRY", "REJECTED", "IGNORED")
PREFIX = "fleet:tasks"


def _key(name: str, state: str) -> str:
    return f"{PREFIX}:{name}:{state}"


@task_postrun.connect
def count_task_run(sender=None, state: str | None = None, **_: object) -> None:
    name = getattr(sender, "name", None)
    if not name or not state:
        return
    key = _key(name, state)
    try:
        cache.incr(key)
    except ValueError:  # first run of this task/state: the key does not exist yet
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # a metrics hiccup must never fail the task itself
        return


def task_counts(task_names: list[str]) -> dict[tuple[str, str], int]:
    """(task name, state) → runs, for every pair seen so far."""
    keys = {_key(n, s): (n, s) for n in task_names for s in STATES}
    try:
        found = cache.get_many(list(keys))
    except Exception:
        return {}
    return {keys[k]: int(v) for k, v in found.items()}
