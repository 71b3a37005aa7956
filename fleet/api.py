"""The registry's JSON API (`/api/v1/services`, `/api/v1/accounts`). Thin: parse, call, shape."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.responses import Status

from console import limits
from console.api_errors import require_role
from fleet import services as fleet_services
from fleet.api_schemas import (
    AccountIn,
    AccountOut,
    ErrorOut,
    ServiceIn,
    ServiceOut,
    ServicePage,
    ServicePatch,
)
from fleet.dashboard import blast_radius
from fleet.filters import ServiceFilter, sort_key
from fleet.models import CloudAccount, Service

router = Router(tags=["fleet"])


class ServiceQuery(Schema):
    q: str = ""
    status: str = ""
    kind: str = ""
    cloud: str = ""
    environment: str = ""
    team: str = ""
    tag: str = ""
    sort: str = "name"
    limit: int = limits.query_field("limit", 100)
    offset: int = limits.query_field("offset", 0)


def _service_out(service: Service) -> dict:
    state = fleet_services.service_state(service)
    return {
        **state,
        "provider": service.provider,
        "region": service.account.region if service.account_id else "",
        "status": service.status,
        "status_changed_at": service.status_changed_at,
        "last_checked_at": service.last_checked_at,
        "last_latency_ms": service.last_latency_ms,
        "last_error": service.last_error,
    }


@router.get(
    "/services", response=ServicePage, summary="List services (filters as on the dashboard)"
)
def list_services(request: HttpRequest, query: Query[ServiceQuery]):
    params = {k: v for k, v in query.dict().items() if v and k not in ("limit", "offset", "sort")}
    filterset = ServiceFilter(params, queryset=Service.objects.select_related("account"))
    _, order = sort_key(query.sort)
    qs = filterset.qs.prefetch_related("dependencies").order_by(order, "name")
    limit, offset = query.limit, query.offset
    return {"count": qs.count(), "items": [_service_out(s) for s in qs[offset : offset + limit]]}


@router.post("/services", response={201: ServiceOut, 403: ErrorOut, 422: ErrorOut})
def create_service(request: HttpRequest, payload: ServiceIn):
    require_role(request, "operator")
    service = fleet_services.save_service(actor=request.user, source="api", spec=payload.dict())
    return Status(201, _service_out(service))


@router.get("/services/{name}", response={200: ServiceOut, 404: ErrorOut})
def get_service(request: HttpRequest, name: str):
    return _service_out(get_object_or_404(Service.objects.select_related("account"), name=name))


@router.put(
    "/services/{name}", response={200: ServiceOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def replace_service(request: HttpRequest, name: str, payload: ServiceIn):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    saved = fleet_services.save_service(
        actor=request.user, source="api", spec=payload.dict(), instance=service
    )
    return _service_out(saved)


@router.patch(
    "/services/{name}", response={200: ServiceOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def update_service(request: HttpRequest, name: str, payload: ServicePatch):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    spec = {**fleet_services.service_state(service), **payload.dict(exclude_unset=True)}
    saved = fleet_services.save_service(
        actor=request.user, source="api", spec=spec, instance=service
    )
    return _service_out(saved)


@router.delete("/services/{name}", response={204: None, 403: ErrorOut, 404: ErrorOut})
def delete_service(request: HttpRequest, name: str):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    fleet_services.delete_service(actor=request.user, source="api", service=service)
    return Status(204, None)


@router.get(
    "/services/{name}/dependents",
    response={200: list[str], 404: ErrorOut},
    summary="Agent backends that call this service, directly or transitively",
)
def service_dependents(request: HttpRequest, name: str):
    return [s.name for s in blast_radius(get_object_or_404(Service, name=name))]


def _account_out(account: CloudAccount, count: int | None = None) -> dict:
    state = fleet_services.account_state(account)
    state["service_count"] = account.services.count() if count is None else count
    return state


@router.get("/accounts", response=list[AccountOut])
def list_accounts(request: HttpRequest):
    accounts = CloudAccount.objects.annotate(n=Count("services")).order_by("name")
    return [_account_out(a, a.n) for a in accounts]


@router.post("/accounts", response={201: AccountOut, 403: ErrorOut, 422: ErrorOut})
def create_account(request: HttpRequest, payload: AccountIn):
    require_role(request, "operator")
    account = fleet_services.save_account(actor=request.user, source="api", spec=payload.dict())
    return Status(201, _account_out(account, 0))


@router.get("/accounts/{name}", response={200: AccountOut, 404: ErrorOut})
def get_account(request: HttpRequest, name: str):
    return _account_out(get_object_or_404(CloudAccount, name=name))


@router.put(
    "/accounts/{name}", response={200: AccountOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def replace_account(request: HttpRequest, name: str, payload: AccountIn):
    require_role(request, "operator")
    account = get_object_or_404(CloudAccount, name=name)
    saved = fleet_services.save_account(
        actor=request.user, source="api", spec=payload.dict(), instance=account
    )
    return _account_out(saved)


@router.delete(
    "/accounts/{name}", response={204: None, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def delete_account(request: HttpRequest, name: str):
    require_role(request, "operator")
    account = get_object_or_404(CloudAccount, name=name)
    fleet_services.delete_account(actor=request.user, source="api", account=account)
    return Status(204, None)
