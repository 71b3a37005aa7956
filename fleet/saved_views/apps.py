"""Saved views as their own app (label `saved_views`), so they grow apart from the registry."""

from django.apps import AppConfig


class SavedViewsConfig(AppConfig):
    name = "fleet.saved_views"
    label = "saved_views"
    verbose_name = "Saved views"
