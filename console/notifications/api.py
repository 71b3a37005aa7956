"""Alert channel API endpoints."""

from ninja import Router

router = Router(tags=["alerts"])
