"""Production-checklist audits, as their own app (label `audits`) beside the probes."""

from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "checks.audits"
    label = "audits"
    verbose_name = "Audits"
