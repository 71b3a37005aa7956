"""The JSON API at /api/v1/ (OpenAPI at /api/v1/openapi.json). Each app adds its router."""

from ninja import NinjaAPI
from ninja.security import django_auth

from console.api_auth import TokenAuth
from console.api_errors import install_handlers
from fleet.api import router as fleet_router

api = NinjaAPI(
    title="MCP Fleet Console API",
    version="1",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=[TokenAuth(), django_auth],
)
install_handlers(api)
api.add_router("/", fleet_router)
