"""MCP Fleet Console: the Django project (settings, urls, Celery app, auth, audit log)."""

from console.celery import app as celery_app

__all__ = ["celery_app"]
