"""The JSON API at /api/v1/ (OpenAPI at /api/v1/openapi.json). Each app adds its router."""

from django.views.decorators.http import require_GET
from ninja import NinjaAPI, Swagger
from ninja.security import django_auth

from checks.api import router as checks_router
from checks.audits.api import router as audits_router
from console.api_auth import TokenAuth
from console.api_errors import install_handlers
from console.notifications.api import router as alerts_router
from fleet.api import router as fleet_router
from fleet.budgets.api import router as budgets_router
from fleet.operations.api import router as clouds_router
from fleet.saved_views.api import router as saved_views_router


class ConsoleSwagger(Swagger):
    """Swagger UI served from static files under the CSP, with the console's accessibility fixes.

    Deep links are off: Swagger UI puts them as links inside each operation's toggle button, and
    nested controls are unreachable for keyboard and screen-reader users. The validator badge
    would load an image from a public validator, which the CSP refuses.
    """

    template = "console/api_docs.html"


api = NinjaAPI(
    title="MCP Fleet Console API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=ConsoleSwagger(settings={"deepLinking": False, "validatorUrl": None}),
    docs_decorator=require_GET,
    auth=[TokenAuth(), django_auth],
)
install_handlers(api)
api.add_router("/", fleet_router)
api.add_router("/", checks_router)
api.add_router("/", clouds_router)
api.add_router("/", audits_router)
api.add_router("/", budgets_router)
api.add_router("/", alerts_router)
api.add_router("/", saved_views_router)
