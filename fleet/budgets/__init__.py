"""Budgets and cost: budget alerts, spend against them, what-if estimates."""
