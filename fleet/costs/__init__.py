"""Budgets, cost estimates and spend from the clouds, kept free of Django.

Modules: `pricing` (price table, cpu/memory parsing), `estimate` (what-if and usage costs),
`thresholds` (which budget alerts fire), `gcp_budgets` / `aws_budgets` (budgets in the clouds),
`usage` (measured or requested usage), `spec` (budget wanted vs. budget read back), `money`
(currency and amount checks), `errors` (input errors, and one error type for every provider call).
"""
