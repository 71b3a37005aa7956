"""Budgets as their own app (label `budgets`), so cost tracking evolves apart from the registry."""

from django.apps import AppConfig


class BudgetsConfig(AppConfig):
    name = "fleet.budgets"
    label = "budgets"
    verbose_name = "Budgets"
