"""Audit API endpoints."""

from ninja import Router

router = Router(tags=["audits"])
