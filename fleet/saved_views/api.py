"""Saved views over the API: list the caller's (and shared) views, save one, delete one."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from fleet.saved_views import services
from fleet.saved_views.models import SavedView

router = Router(tags=["saved views"])


class ErrorOut(Schema):
    detail: str | list


class SavedViewIn(Schema):
    name: str = Field(
        description="1-60 characters: letters, digits, spaces and . , : ( ) / + & ' - _"
    )
    query: str = Field(
        "", description="The dashboard query string, e.g. team=platform&sort=-latency"
    )
    shared: bool = Field(False, description="List it for every user (read-only for them)")


class SavedViewOut(Schema):
    id: int
    name: str
    query: str
    shared: bool
    owner: str
    url: str
    created_at: datetime


def _out(view: SavedView) -> dict:
    return {
        "id": view.pk,
        "name": view.name,
        "query": view.query,
        "shared": view.shared,
        "owner": view.owner.username,
        "url": view.dashboard_url(),
        "created_at": view.created_at,
    }


@router.get("/saved-views", response=list[SavedViewOut], summary="Your saved views and shared ones")
def list_saved_views(request: HttpRequest):
    return [_out(v) for v in services.visible_views(request.user)]


@router.post("/saved-views", response={201: SavedViewOut, 422: ErrorOut})
def create_saved_view(request: HttpRequest, payload: SavedViewIn):
    view = services.save_view(request.user, "api", **payload.dict())
    return Status(201, _out(view))


@router.delete("/saved-views/{view_id}", response={204: None, 404: ErrorOut})
def delete_saved_view(request: HttpRequest, view_id: int):
    view = get_object_or_404(
        services.deletable_views(request.user).select_related("owner"), pk=view_id
    )
    services.delete_view(request.user, "api", view)
    return Status(204, None)
