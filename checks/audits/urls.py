"""Audit pages (scorecard, runs, attestations)."""

urlpatterns: list = []
