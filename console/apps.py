"""The console app: roles, audit log, API tokens, background job records."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"
