"""The Celery application shared by the worker, beat and the web process (which only enqueues)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Cloud operations keep their tasks beside their services (fleet/operations/tasks.py).
app.autodiscover_tasks(["fleet.operations"])

# Imported here so every worker process connects their signals: heartbeats for /healthz and the
# reaper (worker_ready / worker_shutdown), task counts for /metrics (task_postrun).
import console.heartbeat  # noqa: E402,F401
import console.task_metrics  # noqa: E402,F401
