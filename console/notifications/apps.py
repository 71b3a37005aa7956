"""Alerting as its own app (label `notifications`): channels, routes, silences, deliveries."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "console.notifications"
    label = "notifications"
    verbose_name = "Alerts"
