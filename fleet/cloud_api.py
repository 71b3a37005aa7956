"""Cloud operation API endpoints: redeploy, scaling, discovery."""

from ninja import Router

router = Router(tags=["clouds"])
