"""Health-check API endpoints."""

from ninja import Router

router = Router(tags=["health"])
