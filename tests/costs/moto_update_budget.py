"""Teach moto's Budgets backend the UpdateBudget call it lacks (moto 5.2 answers it with a 500).

Behaves as AWS documents UpdateBudget: the named budget's definition is replaced by `NewBudget`,
its notifications and subscribers stay, AWS-computed fields (spend, period) are kept unless given,
and a missing budget is a NotFoundException. Installed per test with `monkeypatch`.
"""

from __future__ import annotations

import json

from moto.budgets.exceptions import NotFoundException
from moto.budgets.models import Budget
from moto.budgets.responses import BudgetsResponse

_KEPT = ("CalculatedSpend", "TimePeriod")


def update_budget(self: BudgetsResponse) -> str:
    account_id = self._get_param("AccountId")
    new = self._get_param("NewBudget")
    budgets = self.backend.budgets[account_id]
    name = new["BudgetName"]
    if name not in budgets:
        raise NotFoundException(f"Unable to update budget: {name} - the budget doesn't exist.")
    old = budgets[name]
    kept = {key: old.budget[key] for key in _KEPT if key in old.budget and key not in new}
    replacement = Budget({**new, **kept}, notifications=[])
    replacement.notifications = old.notifications
    budgets[name] = replacement
    return json.dumps({})


def install(monkeypatch) -> None:
    """Add UpdateBudget to the in-process moto server for the current test."""
    monkeypatch.setattr(BudgetsResponse, "update_budget", update_budget, raising=False)
